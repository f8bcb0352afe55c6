"""Rule `quicklook`: true-colour PNG of one chip."""

from spectm.io.chips import read_chip_file
from spectm.logs import configure_logging
from spectm.report.quicklook import true_colour_png

configure_logging(snakemake.log[0])
true_colour_png(read_chip_file(snakemake.input.chip), snakemake.output.png)
