"""Rule `glerl_download`: fetch one NCEI / GLERL CSV (retries, size check, atomic)."""

from spectm.logs import configure_logging
from spectm.sources.glerl import fetch_ncei_file

configure_logging(snakemake.log[0])
fetch_ncei_file(snakemake.params.filename, snakemake.output[0])
