"""NOAA GLERL western Lake Erie weekly monitoring samples.

Modules:

* :mod:`~spectm.sources.glerl.samples` -- read the CSVs of all header eras, harmonise them into
  one schema, position QC, summary and writing;
* :mod:`~spectm.sources.glerl.columns` -- the column catalogue of the three header eras;
* :mod:`~spectm.sources.glerl.cells` -- cell-level parsers (dates, clock times, censored values);
* :mod:`~spectm.sources.glerl.remote` -- public NCEI / GLERL URLs of the CSVs and their download.

The names below are the package's public API; import them from ``spectm.sources.glerl``.
"""

from __future__ import annotations

from spectm.sources.glerl.remote import (
    BUNDLED_FILES,
    NCEI_FILES,
    RemoteSampleFile,
    fetch_ncei_file,
    fetch_ncei_samples,
)
from spectm.sources.glerl.samples import (
    READ_COLUMNS,
    SAMPLE_COLUMNS,
    add_position_qc,
    bundled_glerl_files,
    harmonise_samples,
    read_glerl_csv,
    samples_summary,
    station_coordinates,
    write_samples,
)

__all__ = [
    "BUNDLED_FILES",
    "NCEI_FILES",
    "READ_COLUMNS",
    "SAMPLE_COLUMNS",
    "RemoteSampleFile",
    "add_position_qc",
    "bundled_glerl_files",
    "fetch_ncei_file",
    "fetch_ncei_samples",
    "harmonise_samples",
    "read_glerl_csv",
    "samples_summary",
    "station_coordinates",
    "write_samples",
]
