"""Rule `pretrain`: SpecTM pretraining for one masking strategy and seed (resumable)."""

from pathlib import Path

from spectm.config import ModelConfig
from spectm.logs import configure_logging
from spectm.train.pretrain import PretrainConfig, pretrain

configure_logging(snakemake.log[0])
p = snakemake.params
cfg = PretrainConfig.from_sections(
    ModelConfig.from_dict(p.model, name="model"),
    p.training,
    strategy=snakemake.wildcards.strategy,
    seed=int(snakemake.wildcards.pseed),
    device=p.device,
    num_threads=snakemake.threads,
    progress=False,
)
pretrain(snakemake.input.corpus, Path(snakemake.output.model).parent, cfg)
