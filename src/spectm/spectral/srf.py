"""Sentinel-2 MSI spectral response functions (SRF) and Gaussian band responses.

Tabulated SRFs: ESA "Sentinel-2 Spectral Response Functions (S2-SRF)",
COPE-GSEG-EOPG-TN-15-0007, v3.0 (2017; S2A, S2B) and v4.0 (2024; S2A, S2B, S2C), shipped as
1 nm CSV tables 300-2600 nm in ``spectm/data/sentinel2_srf`` (provenance in ``data/SOURCES.md``).
The files name bands ``B1 ... B12, B8A, B10``; here they are renamed to the two-digit names of the
12 Sentinel-2 L2A bands in TerraMind's order, and B10 (cirrus, not in L2A) is dropped.

TerraMind S2L2A normalisation: its input is surface reflectance x 10^4, standardised band by band
with the mean and standard deviation from terratorch ``terramind_register.py``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np
import pandas as pd
import xarray as xr

from spectm.data_files import data_path

S2_L2A_BANDS: tuple[str, ...] = (
    "B01",
    "B02",
    "B03",
    "B04",
    "B05",
    "B06",
    "B07",
    "B08",
    "B8A",
    "B09",
    "B11",
    "B12",
)
"""The 12 Sentinel-2 L2A bands in TerraMind's order (no B10)."""

_FILE_COLUMN = {b: ("B8A" if b == "B8A" else f"B{int(b[1:])}") for b in S2_L2A_BANDS}

TERRAMIND_S2L2A_MEAN = np.array(
    [
        1390.458,
        1503.317,
        1718.197,
        1853.91,
        2199.1,
        2779.975,
        2987.011,
        3083.234,
        3132.22,
        3162.988,
        2424.884,
        1857.648,
    ]
)
"""TerraMind S2L2A band means (reflectance x 1e4), order :data:`S2_L2A_BANDS`.

Source: IBM terratorch, ``terratorch/models/backbones/terramind/model/terramind_register.py``.
"""

TERRAMIND_S2L2A_STD = np.array(
    [
        2106.761,
        2141.107,
        2038.973,
        2134.138,
        2085.321,
        1889.926,
        1820.257,
        1871.918,
        1753.829,
        1797.379,
        1434.261,
        1334.311,
    ]
)
"""TerraMind S2L2A band standard deviations (reflectance x 1e4); same source and order."""

SRF_TABLES: dict[tuple[str, str], str] = {
    ("S2A", "3.0"): "S2A_MSI_SRF_ESA_v3.0_1nm.csv",
    ("S2B", "3.0"): "S2B_MSI_SRF_ESA_v3.0_1nm.csv",
    ("S2A", "4.0"): "S2A_MSI_SRF_ESA_v4.0_1nm.csv",
    ("S2B", "4.0"): "S2B_MSI_SRF_ESA_v4.0_1nm.csv",
    ("S2C", "4.0"): "S2C_MSI_SRF_ESA_v4.0_1nm.csv",
}
"""Bundled ESA SRF tables by (sensor, version)."""

FWHM_TO_SIGMA = 1.0 / (2.0 * np.sqrt(2.0 * np.log(2.0)))


@cache
def _read_table(sensor: str, version: str) -> pd.DataFrame:
    name = SRF_TABLES[(sensor, version)]
    path = data_path("sentinel2_srf", name)
    df = pd.read_csv(path)
    missing = [c for c in ["wavelength_nm", *_FILE_COLUMN.values()] if c not in df.columns]
    if missing:
        raise ValueError(f"SRF table {path} lacks columns {missing}")
    wl = df["wavelength_nm"].to_numpy(dtype=float)
    if not np.allclose(np.diff(wl), 1.0):
        raise ValueError(f"SRF table {path} is not on a 1 nm grid")
    return df


def load_srf(sensor: str = "S2A", version: str = "4.0") -> xr.DataArray:
    """Load a tabulated Sentinel-2 SRF.

    Args:
        sensor: ``S2A``, ``S2B`` or ``S2C``.
        version: ESA table version, ``"4.0"`` (S2A, S2B, S2C) or ``"3.0"`` (S2A, S2B).

    Returns:
        Relative spectral response (0-1), dims ``(band, wavelength)``, shape ``(12, 2301)``:
        ``band`` = :data:`S2_L2A_BANDS`, ``wavelength`` = 300-2600 nm at 1 nm.

    Raises:
        ValueError: for an unknown (sensor, version), listing the available choices.

    """
    key = (str(sensor).upper(), str(version))
    if key not in SRF_TABLES:
        choices = ", ".join(f"{s} v{v}" for s, v in SRF_TABLES)
        raise ValueError(
            f"no Sentinel-2 SRF table for {sensor!r} v{version!r}; choose from {choices}"
        )
    df = _read_table(*key)
    values = np.stack([df[_FILE_COLUMN[b]].to_numpy(dtype=float) for b in S2_L2A_BANDS])
    return xr.DataArray(
        values,
        dims=("band", "wavelength"),
        coords={"band": list(S2_L2A_BANDS), "wavelength": df["wavelength_nm"].to_numpy(float)},
        name="srf",
        attrs={
            "sensor": key[0],
            "version": key[1],
            "units": "1",
            "wavelength_units": "nm",
            "source": f"ESA COPE-GSEG-EOPG-TN-15-0007 v{key[1]} ({SRF_TABLES[key]})",
        },
    )


def gaussian_srf(
    centre_nm: float | Sequence[float] | np.ndarray,
    fwhm_nm: float | Sequence[float] | np.ndarray,
    wavelengths_nm: Sequence[float] | np.ndarray,
    *,
    normalise: str = "peak",
) -> np.ndarray:
    """Gaussian band responses evaluated at ``wavelengths_nm``.

    Args:
        centre_nm: Band centre(s) (nm), scalar or shape ``(n_bands,)``.
        fwhm_nm: Full width at half maximum (nm), scalar or shape ``(n_bands,)``.
        wavelengths_nm: Evaluation wavelengths (nm), shape ``(n_wl,)``.
        normalise: ``"peak"`` (maximum 1) or ``"area"`` (integral over wavelength 1 nm^-1, the
            continuous Gaussian density).

    Returns:
        Responses, shape ``(n_wl,)`` for a scalar centre, else ``(n_bands, n_wl)``.

    """
    c = np.asarray(centre_nm, dtype=float)
    f = np.broadcast_to(np.asarray(fwhm_nm, dtype=float), c.shape)
    if np.any(~np.isfinite(f)) or np.any(f <= 0):
        raise ValueError("fwhm_nm must be finite and > 0")
    wl = np.asarray(wavelengths_nm, dtype=float)
    sigma = f[..., None] * FWHM_TO_SIGMA
    g = np.exp(-0.5 * ((wl - c[..., None]) / sigma) ** 2)
    if normalise == "area":
        g = g / (sigma * np.sqrt(2.0 * np.pi))
    elif normalise != "peak":
        raise ValueError(f"normalise must be 'peak' or 'area', got {normalise!r}")
    return g


def srf_centroid(srf: xr.DataArray) -> np.ndarray:
    """SRF-weighted centroid of each band, ``sum(lambda S) / sum(S)`` (nm), shape ``(n_band,)``."""
    wl = srf["wavelength"].to_numpy()
    s = srf.transpose("band", "wavelength").to_numpy()
    return np.asarray((s @ wl) / s.sum(axis=1))


def srf_fwhm(srf: xr.DataArray) -> np.ndarray:
    """Width between the outermost half-maximum crossings of each band (nm), ``(n_band,)``.

    Crossings are located by linear interpolation between the tabulated wavelengths.
    """
    wl = srf["wavelength"].to_numpy()
    out = []
    for row in srf.transpose("band", "wavelength").to_numpy():
        half = row.max() / 2.0
        above = np.flatnonzero(row >= half)
        i0, i1 = above[0], above[-1]
        lo = np.interp(half, [row[i0 - 1], row[i0]], [wl[i0 - 1], wl[i0]])
        hi = np.interp(half, [row[i1 + 1], row[i1]], [wl[i1 + 1], wl[i1]])
        out.append(hi - lo)
    return np.asarray(out)


def s2_band_parameters(sensor: str = "S2A", version: str = "4.0") -> pd.DataFrame:
    """Centroid and FWHM of the 12 L2A bands measured from the tabulated SRF.

    Returns:
        Table with columns ``band``, ``centre_nm`` (SRF-weighted centroid) and ``fwhm_nm``
        (outermost half-maximum width), one row per band in :data:`S2_L2A_BANDS` order.

    """
    srf = load_srf(sensor, version)
    return pd.DataFrame(
        {"band": list(S2_L2A_BANDS), "centre_nm": srf_centroid(srf), "fwhm_nm": srf_fwhm(srf)}
    )
