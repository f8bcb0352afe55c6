"""The pretraining corpus table: unlabelled water spectra on the model band grid.

Each row is one valid water pixel from a chip, linearly resampled onto the model grid, one
pixel of a temporal pixel pair (spectrum at t plus the spectrum of the same place 8 days later),
or, when asked for, the spectrum of a labelled-table row (Rrs and time only; transductive use of
unlabelled inputs). It is built by :func:`spectm.train.corpus.build_corpus`.

Corpus table (Parquet, one row per spectrum):

========================  =======================================================================
``granule``               source granule (for pairs: the granule at t; for labelled spectra the
                          table's ``granule``, empty when it has none)
``time_utc``              overpass time, tz-aware UTC
``lat``, ``lon``          pixel centre (degrees, WGS84)
``split``                 ``train`` or ``val``; whole overpass dates go to one side
``source``                ``chip``, ``pair`` or ``labelled`` (:data:`SOURCES`)
``Rrs_<nm>``              Rrs (sr-1) on the model grid, float32, all finite
``future_Rrs_<nm>``       Rrs (sr-1) 8 days later on the same grid; NaN unless ``source == pair``
========================  =======================================================================

``df.attrs`` (kept in the Parquet file) records the grid name, its wavelengths, the gap-filled
bands (interpolated across a sensor gap, e.g. PACE's 589-612 nm), counts and the sampling seed.
Corpora written before labelled spectra existed lack the ``n_labelled_*`` counts; they read the
same.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from spectm._io import PathLike, write_parquet
from spectm.inputs import read_parquet_file
from spectm.tables import find_rrs_columns, rrs_columns

FUTURE_PREFIX = "future_Rrs_"
"""Column prefix of the spectra 8 days later (``future_Rrs_<nm>``)."""
META_COLUMNS = ("granule", "time_utc", "lat", "lon", "split", "source")
"""Columns every corpus row carries besides the spectra."""
PAIR_COLUMNS = ("granule_t", "granule_t8", "lat", "lon", "lead_hours")
"""Columns a pixel-pairs table must carry to enter the corpus."""
SOURCES = ("chip", "pair", "labelled")
"""Values of the ``source`` column: chip pixel, pixel pair, labelled table's spectrum."""


def write_corpus(df: pd.DataFrame, path: PathLike) -> Path:
    """Write the corpus to Parquet atomically (``attrs`` included) and return the path."""
    return write_parquet(df, path)


def read_corpus(path: PathLike) -> pd.DataFrame:
    """Read and check a corpus written by :func:`write_corpus`.

    Raises:
        FileNotFoundError: naming the file when it does not exist.
        ValueError: naming the file when it is not Parquet, a column is missing, the future
            columns do not match the spectral columns, a spectrum is not finite, or ``split``
            or ``source`` has other values.

    """
    df = read_parquet_file(path, "a pretraining corpus Parquet (spectm.train.corpus)")
    missing = [c for c in META_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"corpus {path}: missing columns {missing}")
    try:
        cols, wl = find_rrs_columns(df)
    except ValueError as err:
        raise ValueError(f"corpus {path}: {err}") from None
    fut = rrs_columns(wl, prefix=FUTURE_PREFIX)
    absent = [c for c in fut if c not in df.columns]
    if absent:
        raise ValueError(f"corpus {path}: missing future columns {absent[:3]}...")
    bad_rows = np.flatnonzero(~np.isfinite(df[cols].to_numpy(dtype=float)).all(axis=1))
    if bad_rows.size:
        raise ValueError(f"corpus {path}: non-finite Rrs in row {int(bad_rows[0])}")
    bad_split = sorted(set(df["split"].unique()) - {"train", "val"})
    if bad_split:
        raise ValueError(f"corpus {path}: column 'split' has values {bad_split}")
    bad_source = sorted(set(df["source"].unique()) - set(SOURCES))
    if bad_source:
        raise ValueError(
            f"corpus {path}: column 'source' has values {bad_source}; expected one of {SOURCES}"
        )
    return df
