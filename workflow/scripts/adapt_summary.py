"""Rule `adapt_summary`: results/adapt/summary.csv (every row), the mean ± sd table, coverage."""

from spectm.adapt.experiment import write_coverage, write_summary
from spectm.adapt.settings import AdaptConfig
from spectm.io.enmap_chips import chip_files
from spectm.logs import configure_logging

configure_logging(snakemake.log[0])
p = snakemake.params
cfg = AdaptConfig.from_dict({**p.adapt, "device": p.device, "num_threads": 1}, name="adapt")
o = snakemake.output
write_summary(list(snakemake.input.rows), o.summary, o.table)
write_coverage(chip_files(snakemake.input.chips), o.coverage, cfg=cfg)
