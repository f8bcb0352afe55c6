"""Rule `pretrain`: SpecTM pretraining for one masking strategy (resumable)."""

from pathlib import Path

from spectm.logs import configure_logging
from spectm.train.pretrain import PretrainConfig, pretrain

configure_logging(snakemake.log[0])
cfg = PretrainConfig.from_dict(
    {**snakemake.params.cfg, "num_threads": snakemake.threads, "progress": False}
)
pretrain(snakemake.input.corpus, Path(snakemake.output.model).parent, cfg)
