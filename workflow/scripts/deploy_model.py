"""Rule `deploy_model`: the current-week model fitted on every labelled row, with intervals."""

from spectm.datasets import read_dataset
from spectm.logs import configure_logging
from spectm.train.finetune import FullConfig, train_deployable

configure_logging(snakemake.log[0])
p = snakemake.params
train_deployable(
    read_dataset(snakemake.input.dataset),
    snakemake.input.model,
    snakemake.output.model,
    mode=p.mode,
    alpha=p.alpha,
    full=FullConfig(epochs=p.epochs),
    device=p.device,
    ridge_grid=p.ridge_grid,
    inner_splits=p.inner_splits,
)
