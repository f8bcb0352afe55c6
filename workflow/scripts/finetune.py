"""Rule `finetune`: SpecTM fine-tuning (frozen | full) over fractions x seeds x outer folds."""

from spectm.datasets import read_dataset
from spectm.logs import configure_logging
from spectm.train.finetune import FullConfig, run_finetune_grid, write_predictions

configure_logging(snakemake.log[0])
p = snakemake.params
predictions = run_finetune_grid(
    read_dataset(snakemake.input.dataset),
    snakemake.input.model,
    modes=p.modes,
    fractions=p.fractions,
    full_fractions=p.full_fractions,
    full=FullConfig(epochs=p.full_epochs),
    seeds=p.seeds,
    n_splits=p.n_splits,
    alpha=p.alpha,
    device=p.device,
    ridge_grid=p.ridge_grid,
    inner_splits=p.inner_splits,
    num_threads=snakemake.threads,
)
write_predictions(predictions, snakemake.output.predictions)
