"""Rule `enmap_product`: one product as a directory (demo written, stac downloaded, local linked)."""

from pathlib import Path

from spectm.config import EnmapDemoConfig
from spectm.logs import configure_logging
from spectm.sources.enmap import fetch_product

configure_logging(snakemake.log[0])
p = snakemake.params
out = Path(snakemake.output.product)
fetch_product(
    snakemake.input.manifest,
    snakemake.wildcards.product,
    root=out.parent,
    source=p.source,
    retries=p.retries,
    demo_settings=EnmapDemoConfig.from_dict(p.demo, name="enmap.demo"),
    link_into=out,
)
