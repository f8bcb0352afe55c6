"""Rule `samples`: harmonise the GLERL CSVs into one position-checked table."""

from spectm.logs import configure_logging
from spectm.sources.glerl import write_samples

configure_logging(snakemake.log[0])
write_samples(
    list(snakemake.input.csv),
    snakemake.output.samples,
    summary_path=snakemake.output.summary,
    position_max_km=snakemake.params.position_max_km,
)
