"""Rule `reconstruction`: masked-band reconstruction vs cubic spline on held-out dates."""

from spectm.evaluate.reconstruction import evaluate_reconstruction
from spectm.logs import configure_logging

configure_logging(snakemake.log[0])
evaluate_reconstruction(
    snakemake.input.model,
    snakemake.input.corpus,
    figure_path=snakemake.output.figure,
    table_path=snakemake.output.table,
)
