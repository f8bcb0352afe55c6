"""Checkpoint `pace_search`: write the granule manifest (earthdata search or the demo list)."""

from spectm.logs import configure_logging
from spectm.sources.pace import write_granule_manifest

configure_logging(snakemake.log[0])
p = snakemake.params
write_granule_manifest(
    snakemake.output.manifest,
    source=p.source,
    short_name=p.short_name,
    version=p.version,
    provider=p.provider,
    start=p.start,
    end=p.end,
    bbox=p.bbox,
    max_granules=p.max_granules,
)
