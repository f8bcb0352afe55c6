"""Rule `indices`: bio-optical indices of the matched spectra, and the bands each index used."""

from spectm.logs import configure_logging
from spectm.spectral.indices import write_index_tables

configure_logging(snakemake.log[0])
write_index_tables(snakemake.input.matchups, snakemake.output.table, snakemake.output.bands)
