"""Rule `resample_matchups`: matched PACE spectra -> Sentinel-2 L2A bands + per-band coverage."""

from spectm.logs import configure_logging
from spectm.spectral.resample import write_resampled_table

configure_logging(snakemake.log[0])
p = snakemake.params
write_resampled_table(
    snakemake.input.matchups,
    snakemake.output.table,
    target=p.target,
    version=p.version,
    method=p.method,
    sensor="pace_oci",
    coverage_path=snakemake.output.coverage,
)
