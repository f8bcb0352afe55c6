"""Rule `dataset`: one labelled dataset ({source} x {horizon}) in the dataset contract."""

from spectm.datasets import build_dataset, write_dataset
from spectm.logs import configure_logging

configure_logging(snakemake.log[0])
p = snakemake.params
df = build_dataset(
    snakemake.wildcards.source,
    snakemake.wildcards.horizon,
    matchups_path=snakemake.input.get("matchups"),
    samples_path=snakemake.input.samples,
    lead_days=p.lead_days,
    tolerance_days=p.tolerance_days,
    depth_categories=tuple(p.depth_categories),
)
write_dataset(df, snakemake.output.table)
