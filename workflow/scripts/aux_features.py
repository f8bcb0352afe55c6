"""Rule `aux_features`: gridMET features over windows before each labelled row's date."""

from spectm.logs import configure_logging
from spectm.meteo.gridmet import write_aux_features

configure_logging(snakemake.log[0])
write_aux_features(
    snakemake.input.dataset,
    snakemake.output.aux,
    variables=snakemake.params.variables,
    windows_days=snakemake.params.windows_days,
)
