"""Rule `pace_granule`: download one granule (earthdata) or write its replay file (demo)."""

from spectm.logs import configure_logging
from spectm.sources.pace import fetch_granule

configure_logging(snakemake.log[0])
p = snakemake.params
fetch_granule(
    snakemake.input.manifest,
    snakemake.wildcards.granule + ".nc",
    snakemake.output.granule,
    source=p.source,
    retries=p.retries,
    shape=tuple(p.shape),
    pixel_km=p.pixel_km,
    cloud_fraction=p.cloud_fraction,
    seed=p.seed,
)
