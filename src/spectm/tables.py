"""Spectra tables: the ``Rrs_<nm>`` column convention shared by every table with spectra.

A spectrum table holds one spectrum per row in columns named ``Rrs_<wavelength>`` (nm, written
without trailing zeros: ``Rrs_346``, ``Rrs_417.5``). Other columns are free.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

RRS_PREFIX = "Rrs_"
_RRS_RE = re.compile(r"^Rrs_(\d+(?:\.\d+)?)$")


def rrs_column(wavelength_nm: float, prefix: str = RRS_PREFIX) -> str:
    """Column name for one wavelength (nm): ``Rrs_346``, ``Rrs_417.5``."""
    return f"{prefix}{float(wavelength_nm):g}"


def rrs_columns(
    wavelengths_nm: Sequence[float] | np.ndarray, prefix: str = RRS_PREFIX
) -> list[str]:
    """Column names for a wavelength grid (nm)."""
    return [rrs_column(w, prefix) for w in np.asarray(wavelengths_nm, dtype=float)]


def find_rrs_columns(df: pd.DataFrame, prefix: str = RRS_PREFIX) -> tuple[list[str], np.ndarray]:
    """Return the ``Rrs_<nm>`` columns of ``df`` sorted by wavelength, and the wavelengths (nm).

    Raises:
        ValueError: if the table has no such column.
    """
    pattern = re.compile(rf"^{re.escape(prefix)}(\d+(?:\.\d+)?)$")
    found = [(float(m.group(1)), c) for c in df.columns if (m := pattern.match(str(c)))]
    if not found:
        raise ValueError(
            f"table has no '{prefix}<nm>' spectral columns (columns: {list(df.columns)[:8]}...)"
        )
    found.sort()
    return [c for _, c in found], np.array([w for w, _ in found])


def spectra_matrix(df: pd.DataFrame, prefix: str = RRS_PREFIX) -> tuple[np.ndarray, np.ndarray]:
    """Spectra of a table as ``(n_rows, n_bands)`` float64 and their wavelengths (nm)."""
    cols, wl = find_rrs_columns(df, prefix)
    return df[cols].to_numpy(dtype=float), wl
