"""Rule `metrics`: summary.csv and the headline tables and figures from every prediction."""

from spectm.evaluate.headline import write_metric_tables
from spectm.logs import configure_logging

configure_logging(snakemake.log[0])
write_metric_tables(
    list(snakemake.input.predictions),
    list(snakemake.input.baseline_info),
    dict(snakemake.output.items()),
    alpha=snakemake.params.alpha,
    n_boot=snakemake.params.n_boot,
)
