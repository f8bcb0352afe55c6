"""Checkpoint `pace_search`: write the granule manifest (earthdata search or the demo list)."""

from spectm.logs import configure_logging
from spectm.sources.pace import write_granule_manifest

configure_logging(snakemake.log[0])
p = snakemake.params
if p.source == "earthdata":
    # credentials and a short-timeout probe of Earthdata Login and CMR first: earthaccess's login
    # request has no timeout and would hang on a network that drops packets
    from spectm.sources.preflight import check_earthdata

    check_earthdata(search=True)
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
