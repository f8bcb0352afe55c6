"""Rule `report`: assemble results/report/index.html from the DAG's outputs."""

from spectm.logs import configure_logging
from spectm.report.build import build_report

configure_logging(snakemake.log[0])
i = snakemake.input
build_report(
    snakemake.output.html,
    config=snakemake.params.config,
    samples=i.samples,
    manifest=i.manifest,
    chips=list(i.chips),
    flag_stats=list(i.flag_stats),
    quicklooks=list(i.quicklooks),
)
