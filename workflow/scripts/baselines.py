"""Rule `baselines`: the sklearn grid on the same date-grouped outer splits as SpecTM."""

from spectm._io import write_json, write_parquet
from spectm.evaluate.baselines import run_baseline_grid
from spectm.datasets import attach_aux
from spectm.logs import configure_logging

configure_logging(snakemake.log[0])
p = snakemake.params
df = attach_aux(snakemake.input.dataset, snakemake.input.get("aux"))
predictions, info = run_baseline_grid(
    df,
    algorithms=p.algorithms,
    feature_sets=p.feature_sets,
    fractions=p.fractions,
    seeds=p.seeds,
    n_splits=p.n_splits,
    inner_splits=p.inner_splits,
    alpha=p.alpha,
    grid=p.grid,
    n_jobs=snakemake.threads,
)
write_parquet(predictions, snakemake.output.predictions)
write_json(info, snakemake.output.info)
