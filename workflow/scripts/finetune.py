"""Rule `finetune`: SpecTM fine-tuning (frozen | full) over fractions x seeds x outer folds."""

from spectm.config import EvaluationConfig
from spectm.datasets import read_dataset
from spectm.evaluate.protocol import write_predictions
from spectm.logs import configure_logging
from spectm.train.finetune import FullConfig
from spectm.train.finetune_grid import run_finetune_grid

configure_logging(snakemake.log[0])
p = snakemake.params
evaluation = EvaluationConfig.from_dict(p.evaluation, name="evaluation")
predictions = run_finetune_grid(
    read_dataset(snakemake.input.dataset),
    snakemake.input.model,
    evaluation=evaluation,
    fractions=p.fractions,
    modes=p.modes,
    full_fractions=p.full_fractions,
    full=FullConfig.for_evaluation(evaluation, epochs=p.full_epochs),
    device=p.device,
    pooling=p.pooling,
    probe_inputs=p.probe_inputs,
    num_threads=snakemake.threads,
)
write_predictions(predictions, snakemake.output.predictions)
