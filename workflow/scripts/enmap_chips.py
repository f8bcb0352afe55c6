"""Rule `enmap_chips`: the size x size chips of one EnMAP product (the chip contract)."""

from spectm.config import EnmapConfig
from spectm.io.enmap_chips import make_enmap_chips
from spectm.logs import configure_logging

configure_logging(snakemake.log[0])
p = snakemake.params
make_enmap_chips(
    snakemake.input.product,
    snakemake.output.chips,
    size=p.size,
    bands=EnmapConfig.band_numbers(p.band_ranges),
    name=snakemake.wildcards.product,
    quality_layers=p.quality_layers,
)
