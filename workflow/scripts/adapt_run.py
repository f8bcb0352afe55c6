"""Rule `adapt_run`: one task x method of the TerraMind adaptation experiment, every seed."""

from spectm.adapt.experiment import run_to_json
from spectm.adapt.settings import AdaptConfig
from spectm.io.enmap_chips import chip_files
from spectm.logs import configure_logging

configure_logging(snakemake.log[0])
p = snakemake.params
cfg = AdaptConfig.from_dict(
    {**p.adapt, "device": p.device, "num_threads": snakemake.threads}, name="adapt"
)
run_to_json(
    chip_files(snakemake.input.chips),
    list(snakemake.output.rows),
    task=snakemake.wildcards.task,
    method=snakemake.wildcards.method,
    seeds=cfg.seeds,
    cfg=cfg,
)
