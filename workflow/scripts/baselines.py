"""Rule `baselines`: the sklearn grid on the same date-grouped outer splits as SpecTM."""

from spectm._io import write_json, write_parquet
from spectm.config import EvaluationConfig
from spectm.datasets import attach_aux
from spectm.evaluate.baselines import run_baseline_grid
from spectm.logs import configure_logging

configure_logging(snakemake.log[0])
p = snakemake.params
predictions, info = run_baseline_grid(
    attach_aux(snakemake.input.dataset, snakemake.input.get("aux")),
    evaluation=EvaluationConfig.from_dict(p.evaluation, name="evaluation"),
    algorithms=p.algorithms,
    feature_sets=p.feature_sets,
    fractions=p.fractions,
    n_jobs=snakemake.threads,
)
write_parquet(predictions, snakemake.output.predictions)
write_json(info, snakemake.output.info)
