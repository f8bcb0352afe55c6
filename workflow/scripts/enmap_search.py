"""Checkpoint `enmap_search`: the EnMAP L2A product manifest (demo list, local dir or STAC)."""

from spectm.config import EnmapDemoConfig
from spectm.logs import configure_logging
from spectm.sources.enmap import write_product_manifest

configure_logging(snakemake.log[0])
p = snakemake.params
write_product_manifest(
    snakemake.output.manifest,
    source=p.source,
    start=p.start,
    end=p.end,
    bbox=p.bbox,
    max_products=p.max_products,
    demo_settings=EnmapDemoConfig.from_dict(p.demo, name="enmap.demo"),
    stac_url=p.stac_url,
    collection=p.collection,
    local_dir=p.local_dir,
)
