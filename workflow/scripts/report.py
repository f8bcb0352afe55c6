"""Rule `report`: assemble results/report/index.html from the DAG's outputs."""

from spectm.logs import configure_logging
from spectm.report.build import build_report

configure_logging(snakemake.log[0])
inputs = {k: snakemake.input[k] for k in snakemake.input.keys()}
build_report(snakemake.output.html, settings=snakemake.params.settings, inputs=inputs)
