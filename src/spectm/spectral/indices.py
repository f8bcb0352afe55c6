"""Bio-optical indices of water colour computed from hyperspectral spectra.

Every index is data (:class:`BioOpticalIndex`): name, formula text, the wavelengths it needs (nm),
the source it comes from, and a function of the reflectances at those wavelengths. The registry
:data:`INDICES` holds them in a fixed order.

Band choice: each wanted wavelength takes the source band with the nearest centre, if that centre
lies within ``tolerance_nm`` (default 3 nm). Otherwise the index cannot be built from the sensor: it
is all-NaN and a message naming the index, the wanted wavelength and the nearest available band is
logged (a warning the first time in a process, debug level after that, so that training loops do
not flood the log). Nothing is interpolated across gaps (PACE OCI has no Rrs in 589-612 nm and
none above 719 nm, so the 600 nm and 753 nm indices are NaN on PACE).

Coefficients of line-height indices use the nominal (published) wavelengths, not the centres of the
bands actually picked; with ``tolerance_nm = 3`` the picked band is at most 3 nm away. Indices work
on Rrs (sr-1) or on reflectance: ratios are unit-free, line heights carry the input unit.

Line height (spectral shape) of the middle band above the straight baseline through two side bands:
``LH(lo, mid, hi) = R(mid) - R(lo) - (R(hi) - R(lo)) * (mid - lo) / (hi - lo)``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from spectm._io import write_csv
from spectm.inputs import read_spectra_table

logger = logging.getLogger(__name__)

DEFAULT_TOLERANCE_NM = 3.0
CHUNK_ROWS = 4096
"""Spectra per block in :func:`index_array`."""
_REPORTED: set[tuple[str, float, float, float]] = set()  # reasons already logged as warnings


def line_height(
    r_lo: np.ndarray, r_mid: np.ndarray, r_hi: np.ndarray, lo: float, mid: float, hi: float
) -> np.ndarray:
    """Height of ``r_mid`` above the straight line through ``(lo, r_lo)`` and ``(hi, r_hi)``.

    Args:
        r_lo: Reflectance at ``lo`` nm, any shape.
        r_mid: Reflectance at ``mid`` nm, same shape.
        r_hi: Reflectance at ``hi`` nm, same shape.
        lo: Short side wavelength (nm).
        mid: Middle wavelength (nm).
        hi: Long side wavelength (nm).

    Returns:
        Line height in the unit of the input, same shape.

    """
    return r_mid - r_lo - (r_hi - r_lo) * (mid - lo) / (hi - lo)


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    return np.where(np.isfinite(out), out, np.nan)


def _ndci(r665: np.ndarray, r708: np.ndarray) -> np.ndarray:
    return _ratio(r708 - r665, r708 + r665)


def _ci_cyano(r665: np.ndarray, r681: np.ndarray, r709: np.ndarray) -> np.ndarray:
    return -line_height(r665, r681, r709, 665.0, 681.0, 709.0)


def _ss665(r620: np.ndarray, r665: np.ndarray, r681: np.ndarray) -> np.ndarray:
    return line_height(r620, r665, r681, 620.0, 665.0, 681.0)


def _flh681(r665: np.ndarray, r681: np.ndarray, r709: np.ndarray) -> np.ndarray:
    return line_height(r665, r681, r709, 665.0, 681.0, 709.0)


def _pc_709_620(r620: np.ndarray, r709: np.ndarray) -> np.ndarray:
    return _ratio(r709, r620)


def _pc_650_625(r625: np.ndarray, r650: np.ndarray) -> np.ndarray:
    return _ratio(r650, r625)


def _pc_700_600(r600: np.ndarray, r700: np.ndarray) -> np.ndarray:
    return _ratio(r700, r600)


def _ci_hu(r443: np.ndarray, r555: np.ndarray, r670: np.ndarray) -> np.ndarray:
    return line_height(r443, r555, r670, 443.0, 555.0, 670.0)


def _mci(r681: np.ndarray, r709: np.ndarray, r753: np.ndarray) -> np.ndarray:
    return line_height(r681, r709, r753, 681.0, 709.0, 753.0)


@dataclass(frozen=True)
class BioOpticalIndex:
    """One bio-optical index.

    Attributes:
        name: Identifier, also the output column name.
        formula: The formula as text, wavelengths in nm.
        wavelengths_nm: Wanted wavelengths (nm), in the order ``func`` takes them.
        source: Literature citation.
        func: Function of the reflectances at ``wavelengths_nm`` (arrays of one shape), returning
            an array of that shape.

    """

    name: str
    formula: str
    wavelengths_nm: tuple[float, ...]
    source: str
    func: Callable[..., np.ndarray]


_REGISTRY: tuple[BioOpticalIndex, ...] = (
    BioOpticalIndex(
        "NDCI",
        "(R708 - R665) / (R708 + R665)",
        (665.0, 708.0),
        "Mishra & Mishra 2012, Remote Sens. Environ. 117:394-406, doi:10.1016/j.rse.2011.10.016",
        _ndci,
    ),
    BioOpticalIndex(
        "CI_cyano",
        "-SS(681), SS(681) = R681 - R665 - (R709 - R665) * (681 - 665) / (709 - 665)",
        (665.0, 681.0, 709.0),
        "Wynne et al. 2008, Int. J. Remote Sens. 29:3665-3672, doi:10.1080/01431160802007640; "
        "Wynne et al. 2010, Limnol. Oceanogr. 55:2025-2036",
        _ci_cyano,
    ),
    BioOpticalIndex(
        "SS665",
        "SS(665) = R665 - R620 - (R681 - R620) * (665 - 620) / (681 - 620); "
        "SS(665) > 0 flags phycocyanin absorption at 620 nm (cyanobacteria)",
        (620.0, 665.0, 681.0),
        "Wynne et al. 2010, Limnol. Oceanogr. 55:2025-2036; Lunetta et al. 2015, "
        "Remote Sens. Environ. 157:24-34, doi:10.1016/j.rse.2014.06.008",
        _ss665,
    ),
    BioOpticalIndex(
        "FLH681",
        "R681 - [R665 + (R709 - R665) * (681 - 665) / (709 - 665)] "
        "(MERIS-band baseline 665/709 nm; equals SS(681) = -CI_cyano)",
        (665.0, 681.0, 709.0),
        "Gower et al. 1999, Int. J. Remote Sens. 20:1771-1786, doi:10.1080/014311699212470",
        _flh681,
    ),
    BioOpticalIndex(
        "PC_709_620",
        "R709 / R620",
        (620.0, 709.0),
        "Simis et al. 2005, Limnol. Oceanogr. 50:237-245, doi:10.4319/lo.2005.50.1.0237",
        _pc_709_620,
    ),
    BioOpticalIndex(
        "PC_650_625",
        "R650 / R625",
        (625.0, 650.0),
        "Schalles & Yacobi 2000, Arch. Hydrobiol. Spec. Issues Advanc. Limnol. 55:153-168",
        _pc_650_625,
    ),
    BioOpticalIndex(
        "PC_700_600",
        "R700 / R600",
        (600.0, 700.0),
        "Mishra, Mishra & Schluchter 2009, Remote Sens. 1:758-775, doi:10.3390/rs1040758",
        _pc_700_600,
    ),
    BioOpticalIndex(
        "CI_Hu",
        "R555 - [R443 + (555 - 443) / (670 - 443) * (R670 - R443)]",
        (443.0, 555.0, 670.0),
        "Hu, Lee & Franz 2012, J. Geophys. Res. 117:C01011, doi:10.1029/2011JC007395",
        _ci_hu,
    ),
    BioOpticalIndex(
        "MCI",
        "R709 - R681 - (R753 - R681) * (709 - 681) / (753 - 681) "
        "(geometric baseline; Gower's MERIS factor 1.005 not applied)",
        (681.0, 709.0, 753.0),
        "Gower et al. 2005, Int. J. Remote Sens. 26:2005-2012, doi:10.1080/01431160500075857",
        _mci,
    ),
)

INDICES: dict[str, BioOpticalIndex] = {ix.name: ix for ix in _REGISTRY}
"""All indices by name, in a fixed order."""


def _select(names: Sequence[str] | None) -> list[BioOpticalIndex]:
    if names is None:
        return list(_REGISTRY)
    unknown = [n for n in names if n not in INDICES]
    if unknown:
        raise ValueError(f"unknown bio-optical index {unknown}; choose from {list(INDICES)}")
    return [INDICES[n] for n in names]


def _nearest(wl: np.ndarray, wanted: float) -> tuple[int, float]:
    i = int(np.argmin(np.abs(wl - wanted)))
    return i, float(abs(wl[i] - wanted))


def _check_wavelengths(wavelengths_nm: Sequence[float] | np.ndarray) -> np.ndarray:
    wl = np.asarray(wavelengths_nm, dtype=float)
    if wl.ndim != 1 or wl.size == 0 or not np.all(np.isfinite(wl)):
        raise ValueError("wavelengths_nm must be a non-empty 1-D array of finite values (nm)")
    return wl


def index_band_table(
    wavelengths_nm: Sequence[float] | np.ndarray,
    *,
    names: Sequence[str] | None = None,
    tolerance_nm: float = DEFAULT_TOLERANCE_NM,
) -> pd.DataFrame:
    """Which source band each index uses for each wanted wavelength.

    Args:
        wavelengths_nm: Source band centres (nm), shape ``(n_bands,)``.
        names: Indices to list (default: all of :data:`INDICES`).
        tolerance_nm: Largest accepted distance between wanted and used wavelength (nm).

    Returns:
        One row per (index, wanted wavelength) with columns ``index``, ``wanted_nm``,
        ``nearest_nm`` (nearest source band centre), ``band_position`` (its 0-based column in the
        spectra), ``offset_nm`` (``nearest_nm - wanted_nm``) and ``used`` (offset within
        tolerance).

    """
    wl = _check_wavelengths(wavelengths_nm)
    rows = []
    for ix in _select(names):
        for wanted in ix.wavelengths_nm:
            i, dist = _nearest(wl, wanted)
            rows.append(
                {
                    "index": ix.name,
                    "wanted_nm": wanted,
                    "nearest_nm": float(wl[i]),
                    "band_position": i,
                    "offset_nm": float(wl[i] - wanted),
                    "used": dist <= tolerance_nm,
                }
            )
    return pd.DataFrame(rows)


def index_array(
    spectra: np.ndarray,
    wavelengths_nm: Sequence[float] | np.ndarray,
    *,
    names: Sequence[str] | None = None,
    tolerance_nm: float = DEFAULT_TOLERANCE_NM,
) -> np.ndarray:
    """Compute bio-optical indices for spectra of any leading shape.

    Args:
        spectra: Rrs (sr-1) or reflectance, shape ``(..., n_bands)``.
        wavelengths_nm: Band centres (nm), shape ``(n_bands,)``.
        names: Indices to compute, in output order (default: all of :data:`INDICES`).
        tolerance_nm: Largest accepted distance between wanted and used band (nm). An index with
            a wanted wavelength farther than this from every band is all-NaN (reason logged).

    Returns:
        Indices, shape ``(..., n_indices)``, in the order of ``names``; float32 for float32
        input, else float64 (other floating types: their precision, at least float32). NaN where a
        needed band is NaN, where a ratio has a zero denominator, or where the sensor lacks a band.

    """
    wl = _check_wavelengths(wavelengths_nm)
    x = np.asarray(spectra)
    if x.ndim == 0 or x.shape[-1] != wl.size:
        raise ValueError(
            f"spectra have shape {x.shape}; the last axis must match the {wl.size} wavelengths"
        )
    dtype = np.result_type(x.dtype, np.float32) if x.dtype.kind == "f" else np.dtype(float)
    chosen = _select(names)
    usable: list[tuple[int, BioOpticalIndex, list[int]]] = []  # (output column, index, bands)
    for k, ix in enumerate(chosen):
        picks = [_nearest(wl, w) for w in ix.wavelengths_nm]
        missing = [
            (w, wl[i], d)
            for w, (i, d) in zip(ix.wavelengths_nm, picks, strict=True)
            if d > tolerance_nm
        ]
        for wanted, near, dist in missing:
            key = (ix.name, wanted, float(near), tolerance_nm)
            level = logging.DEBUG if key in _REPORTED else logging.WARNING
            _REPORTED.add(key)
            logger.log(
                level,
                "index %s set to NaN: wanted %.2f nm, nearest available band %.2f nm is "
                "%.2f nm away (tolerance %.2f nm)",
                ix.name,
                wanted,
                near,
                dist,
                tolerance_nm,
            )
        if not missing:
            usable.append((k, ix, [i for i, _ in picks]))

    # one pass over the input: each block's needed bands gathered once, the indices computed
    # from that small copy (memory beyond input and output stays flat)
    bands = sorted({i for _, _, used in usable for i in used})
    column = {band: j for j, band in enumerate(bands)}
    flat = x.reshape(-1, wl.size)
    out = np.full((flat.shape[0], len(chosen)), np.nan, dtype=dtype)
    for start in range(0, flat.shape[0], CHUNK_ROWS):
        sub = flat[start : start + CHUNK_ROWS, bands].astype(dtype, copy=False)  # (rows, m)
        part = out[start : start + CHUNK_ROWS]
        for k, ix, used in usable:
            part[:, k] = ix.func(*(sub[:, column[i]] for i in used))
    return out.reshape(*x.shape[:-1], len(chosen))


def compute_indices(
    spectra: np.ndarray,
    wavelengths_nm: Sequence[float] | np.ndarray,
    *,
    names: Sequence[str] | None = None,
    tolerance_nm: float = DEFAULT_TOLERANCE_NM,
) -> pd.DataFrame:
    """Compute bio-optical indices for a table of spectra.

    Args:
        spectra: Rrs (sr-1) or reflectance, shape ``(n_spectra, n_bands)``.
        wavelengths_nm: Band centres (nm), shape ``(n_bands,)``.
        names: Indices to compute, in column order (default: all of :data:`INDICES`).
        tolerance_nm: Largest accepted distance between wanted and used band (nm).

    Returns:
        DataFrame of shape ``(n_spectra, n_indices)``, one column per index name, float64. See
        :func:`index_array` for when values are NaN.

    """
    x = np.asarray(spectra, dtype=float)
    if x.ndim != 2:
        raise ValueError(
            f"compute_indices expects spectra of shape (n_spectra, n_bands), got {x.shape}; "
            "use index_array for other shapes"
        )
    cols = [ix.name for ix in _select(names)]
    values = index_array(x, wavelengths_nm, names=names, tolerance_nm=tolerance_nm)
    return pd.DataFrame(values, columns=cols)


def write_index_tables(
    spectra_path: str | os.PathLike[str],
    table_path: str | os.PathLike[str],
    bands_path: str | os.PathLike[str],
    *,
    tolerance_nm: float = 3.0,
    keep: Sequence[str] = ("sample_id", "row_id", "site", "station", "time_utc", "granule"),
) -> pd.DataFrame:
    """Indices of a spectra table (CSV/Parquet, ``Rrs_<nm>`` columns) written as CSV.

    Args:
        spectra_path: Input table, one spectrum per row.
        table_path: Output CSV: the ``keep`` columns present in the input plus one per index.
        bands_path: Output CSV: which source band each index used (:func:`index_band_table`).
        tolerance_nm: Band-picking tolerance (nm).
        keep: Identifier columns carried over when present.

    Raises:
        FileNotFoundError: naming the file when it does not exist.
        ValueError: naming the file (and row/column) when it is not a readable table of
            ``Rrs_<nm>`` spectra (:func:`spectm.inputs.read_spectra_table`).
    """
    df, cols, wl = read_spectra_table(spectra_path)
    x = df[cols].to_numpy(dtype=float)
    out = pd.concat(
        [
            df[[c for c in keep if c in df.columns]].reset_index(drop=True),
            compute_indices(x, wl, tolerance_nm=tolerance_nm).reset_index(drop=True),
        ],
        axis=1,
    )
    write_csv(out, table_path)
    write_csv(index_band_table(wl, tolerance_nm=tolerance_nm), bands_path)
    return out
