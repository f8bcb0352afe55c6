"""Rule `chip`: AOI subset of one granule with l2_flags applied, flag statistics, quicklook."""

from spectm.io.chips import read_chip_file
from spectm.io.pace_l2 import make_chip
from spectm.logs import configure_logging
from spectm.report.quicklook import true_colour_png

configure_logging(snakemake.log[0])
make_chip(
    snakemake.input.granule,
    snakemake.output.chip,
    bbox=tuple(snakemake.params.bbox),
    exclude_flags=list(snakemake.params.exclude_flags),
    stats_path=snakemake.output.flags,
)
true_colour_png(read_chip_file(snakemake.output.chip), snakemake.output.png)
