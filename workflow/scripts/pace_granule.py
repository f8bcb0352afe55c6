"""Rule `pace_granule`: download one granule (earthdata) or write its replay file (demo)."""

from spectm.config import PaceDemoConfig
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
    demo=PaceDemoConfig.from_dict(p.demo, name="pace.demo"),
)
