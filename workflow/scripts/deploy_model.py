"""Rule `deploy_model`: the current-week model fitted on every labelled row, with intervals."""

from spectm.config import EvaluationConfig
from spectm.datasets import read_dataset
from spectm.logs import configure_logging
from spectm.train.deploy import train_deployable
from spectm.train.finetune import FullConfig

configure_logging(snakemake.log[0])
p = snakemake.params
evaluation = EvaluationConfig.from_dict(p.evaluation, name="evaluation")
train_deployable(
    read_dataset(snakemake.input.dataset),
    snakemake.input.model,
    snakemake.output.model,
    evaluation=evaluation,
    mode=p.mode,
    full=FullConfig.for_evaluation(evaluation, epochs=p.epochs),
    device=p.device,
)
