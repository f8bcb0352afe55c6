"""Resample hyperspectral spectra to Sentinel-2 MSI L2A bands (TerraMind's 12-band input).

Methods (value ``y_k`` of target band ``k`` from source values ``x_i`` at centres ``c_i``, FWHM
``f_i``; target response areas and coverage are sums on the response grid, 1 nm for the ESA
tables, equal to the trapezoid rule because every response is zero at the grid ends):

``naive``
    ``y_k = x_i*`` with ``i*`` the source band whose centre is nearest the target band's
    SRF-weighted centroid ``sum(lambda S_k) / sum(S_k)`` (TerraMind HSI paper, "naive").
``srf``
    ``y_k = sum_i w_ki x_i / sum_i w_ki`` with ``w_ki = integral S_k(lambda) g_i(lambda) dlambda``:
    ``S_k`` is the tabulated ESA SRF and ``g_i`` a unit-area Gaussian of centre ``c_i`` and FWHM
    ``f_i`` (the source band's own response). ``w_ki`` is thus the target SRF smoothed by the
    source response and sampled at the source centre. The integral is exact (error functions)
    for the SRF taken as linear between its 1 nm samples. Source bands whose normalised weight
    is below 1e-6 are dropped.
``gaussian``
    As ``srf`` but ``S_k`` is a Gaussian of the band's centre and FWHM (for sensors without an
    SRF table; for a Sentinel-2 target the centroid and half-maximum width of the ESA table).

Other tools call different things "SRF-weighted": SPy's ``BandResampler`` treats each source
band as a boxcar of its FWHM and integrates a target Gaussian truncated at +-FWHM/2 over the
overlap; EnMAP-Box samples the target SRF at the source centres (``w_ki = S_k(c_i)``, the limit of
``srf`` here when ``f_i -> 0``); ACOLITE interpolates the spectrum onto the SRF grid and
integrates. With ``srf`` a spectrum that is linear across the band is reproduced exactly, a
curved one is smoothed by the source FWHM once more (bounded in ``tests/test_srf_resample.py``).
Where source sampling density changes inside a band the denser part weighs more (PACE: 2.5 nm
below 640 nm, 1.25 nm above, but no S2 band straddles 640 nm; EnMAP: VNIR and SWIR both sample
902-993 nm, inside B09).

Coverage: the fraction of the target response area ``sum(S_k)`` inside the source's spectral
support, ``[min(c_i - f_i/2), max(c_i + f_i/2)]`` minus every gap between adjacent source centres
wider than 2 FWHM (PACE: 590.6-610.3 nm). Bands with coverage below ``min_coverage`` are NaN for
every method, never extrapolated. Default 0.95: the truncation error is at most
``(1 - coverage)`` times the spectral contrast across the band, which keeps it within the 5 %
absolute radiometric accuracy required of MSI itself.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd
import xarray as xr
from scipy.special import ndtr

from spectm._io import write_csv
from spectm.inputs import (
    check_wavelengths,
    numeric_column,
    read_csv_table,
    read_spectra_table,
    read_table,
    row_name,
)
from spectm.spectral.srf import (
    FWHM_TO_SIGMA,
    S2_L2A_BANDS,
    TERRAMIND_S2L2A_MEAN,
    TERRAMIND_S2L2A_STD,
    gaussian_srf,
    load_srf,
    srf_centroid,
    srf_fwhm,
)
from spectm.tables import find_rrs_columns, rrs_columns

logger = logging.getLogger(__name__)

METHODS = ("naive", "srf", "gaussian")
DEFAULT_MIN_COVERAGE = 0.95
GAP_FWHM = 2.0
TRUNCATE_FWHM = 3.0
MIN_WEIGHT = 1e-6
CHUNK_ROWS = 8192
"""Spectra per block in :meth:`Resampler.apply` (8192 spectra of 224 float32 bands: 7.3 MB)."""
BLOCK_GAP = 8
"""Source bands between two target bands' runs below which they share one product."""

Data = TypeVar("Data", np.ndarray, xr.DataArray, pd.DataFrame)


@dataclass(frozen=True)
class Resampler:
    """A fixed linear map from source bands to target bands, with per-band provenance.

    Attributes:
        bands: Target band names, ``(n_tgt,)``.
        centre_nm: Target band centres (SRF-weighted centroid or Gaussian centre, nm), ``(n_tgt,)``.
        source_nm: Source band centres (nm), ``(n_src,)``.
        source_fwhm_nm: Source FWHM (nm), ``(n_src,)``.
        weights: Normalised weights, ``(n_tgt, n_src)``; rows sum to 1, rows of invalid bands are 0.
        coverage: Fraction of each target response inside the source support, ``(n_tgt,)``.
        valid: ``coverage >= min_coverage``, ``(n_tgt,)``.
        method: ``naive``, ``srf`` or ``gaussian``.
        target: Target sensor label (e.g. ``S2A v4.0``).
        min_coverage: Coverage threshold used.

    """

    bands: tuple[str, ...]
    centre_nm: np.ndarray
    source_nm: np.ndarray
    source_fwhm_nm: np.ndarray
    weights: np.ndarray
    coverage: np.ndarray
    valid: np.ndarray
    method: str
    target: str
    min_coverage: float

    def apply(self, spectra: np.ndarray) -> np.ndarray:
        """Map spectra ``(..., n_src)`` to ``(..., n_tgt)`` (same unit).

        A NaN (or infinity) in any source band with non-zero weight makes that target value NaN;
        invalid target bands are NaN everywhere. Floating-point input keeps its precision
        (float32 in, float32 out; float64 in, float64 out), other input is computed in float64.

        One pass over the input, :data:`CHUNK_ROWS` spectra at a time (memory beyond the input
        and output stays flat): for each :attr:`source_blocks` entry, a float32 (or float64)
        matrix product of the block's run of source bands with the weights of its target bands.
        IEEE arithmetic carries a NaN of a weighted band into the result; only the rows whose
        result is not finite are computed a second time, with the explicit mask (this also
        keeps out a NaN that meets a zero weight, which the product would carry).
        """
        x = np.asarray(spectra)
        n_src = self.source_nm.size
        if x.ndim == 0 or x.shape[-1] != n_src:
            got = x.shape[-1] if x.ndim else 0
            raise ValueError(f"spectra have {got} bands, the resampler expects {n_src}")
        dtype = np.result_type(x.dtype, np.float32) if x.dtype.kind == "f" else np.dtype(float)
        flat = x.reshape(-1, n_src)
        out = np.empty((flat.shape[0], len(self.bands)), dtype=dtype)
        blocks = [
            (lo, hi, targets, np.ascontiguousarray(self.weights[targets, lo:hi].T, dtype=dtype))
            for lo, hi, targets in self.source_blocks
        ]
        for start in range(0, flat.shape[0], CHUNK_ROWS):
            block = flat[start : start + CHUNK_ROWS].astype(dtype, copy=False)
            part = out[start : start + CHUNK_ROWS]
            with np.errstate(invalid="ignore", over="ignore"):  # inf x 0, inf - inf: fixed below
                for lo, hi, targets, w_t in blocks:
                    part[:, targets] = block[:, lo:hi] @ w_t
            bad = ~np.isfinite(part[:, self.valid]).all(axis=1)
            if bad.any():
                part[bad] = self._masked(block[bad])
        out[:, ~self.valid] = np.nan
        return out.reshape(*x.shape[:-1], len(self.bands))

    @cached_property
    def source_blocks(self) -> tuple[tuple[int, int, np.ndarray], ...]:
        """Groups of valid target bands and the run ``(lo, hi)`` of source bands they read.

        Each valid target band reads the source bands (input order) from its first to its last
        non-zero weight. Target bands whose runs overlap or lie within :data:`BLOCK_GAP` bands of
        each other share a block: a few dense products instead of one over every source band
        (B01-B12 from EnMAP: 3 blocks and 1,034 multiply-adds per spectrum instead of 2,496).
        Returns ``(lo, hi, target indices)`` per block.
        """
        runs = []
        for target in np.flatnonzero(self.valid):
            used = np.flatnonzero(self.weights[target] > 0)
            if used.size:
                runs.append((int(used[0]), int(used[-1]) + 1, int(target)))
        blocks: list[list] = []
        for lo, hi, k in sorted(runs):
            if blocks and lo <= blocks[-1][1] + BLOCK_GAP:
                blocks[-1][1] = max(blocks[-1][1], hi)
                blocks[-1][2].append(k)
            else:
                blocks.append([lo, hi, [k]])
        return tuple((lo, hi, np.array(ks)) for lo, hi, ks in blocks)

    def _masked(self, block: np.ndarray) -> np.ndarray:
        """:meth:`apply` of rows with a non-finite value, with the explicit mask.

        A row without any finite value (a flagged pixel) is NaN throughout without arithmetic.
        """
        finite = np.isfinite(block)
        out = np.full((block.shape[0], len(self.bands)), np.nan, dtype=block.dtype)
        some = finite.any(axis=1)
        if some.any():
            w = self.weights.astype(block.dtype)
            part, ok = block[some], finite[some]
            values = np.where(ok, part, 0) @ w.T
            values[(~ok).astype(block.dtype) @ (w > 0).T.astype(block.dtype) > 0] = np.nan
            out[some] = values
        return out

    def provenance(self) -> pd.DataFrame:
        """Per-band provenance table.

        Returns:
            One row per target band: ``band``, ``centre_nm``, ``coverage``, ``valid``,
            ``n_source_bands`` (non-zero weights), ``source_min_nm`` / ``source_max_nm`` (range of
            source centres used), ``weighted_source_nm`` (weight-averaged source centre),
            ``main_source_nm`` (source band of largest weight), ``method``, ``target``.

        """
        used = self.weights > 0
        n_used = used.sum(axis=1)
        c = self.source_nm
        with np.errstate(invalid="ignore"):
            lo = np.where(n_used > 0, np.where(used, c, np.inf).min(axis=1), np.nan)
            hi = np.where(n_used > 0, np.where(used, c, -np.inf).max(axis=1), np.nan)
        main = np.where(n_used > 0, c[np.argmax(self.weights, axis=1)], np.nan)
        return pd.DataFrame(
            {
                "band": list(self.bands),
                "centre_nm": self.centre_nm,
                "coverage": self.coverage,
                "valid": self.valid,
                "n_source_bands": n_used,
                "source_min_nm": lo,
                "source_max_nm": hi,
                "weighted_source_nm": np.where(n_used > 0, self.weights @ c, np.nan),
                "main_source_nm": main,
                "method": self.method,
                "target": self.target,
            }
        )


def _as_source(
    source_nm: np.ndarray | list[float], source_fwhm_nm: float | np.ndarray | list[float] | None
) -> tuple[np.ndarray, np.ndarray]:
    c = np.asarray(source_nm, dtype=float)
    if c.ndim != 1 or c.size == 0 or not np.all(np.isfinite(c)):
        raise ValueError("source_nm must be a non-empty 1-D array of finite wavelengths (nm)")
    if source_fwhm_nm is None:
        if c.size < 2:
            raise ValueError("source_fwhm_nm is required for a single source band")
        s = np.sort(c)
        gaps = np.diff(s)
        near = np.minimum(np.r_[gaps[0], gaps], np.r_[gaps, gaps[-1]])
        f = near[np.argsort(np.argsort(c))]
        logger.info("source_fwhm_nm not given: using each band's distance to its nearest neighbour")
    else:
        f = np.broadcast_to(np.asarray(source_fwhm_nm, dtype=float), c.shape).copy()
    if np.any(~np.isfinite(f)) or np.any(f <= 0):
        raise ValueError("source_fwhm_nm must be finite and > 0 for every source band")
    return c, f


def _target_response(
    target: str | pd.DataFrame, version: str, method: str
) -> tuple[tuple[str, ...], np.ndarray, np.ndarray, np.ndarray, str]:
    """Target names, wavelength grid (nm), responses ``(n_tgt, n_grid)``, centres, label.

    Tabulated SRFs keep their 1 nm grid; Gaussian responses are tabulated at a step of at most
    1/20 of the narrowest target FWHM (linear interpolation between samples then errs by < 1e-3
    of the peak) and cut to zero beyond +-3 FWHM (2^-36 of the peak).
    """
    if isinstance(target, pd.DataFrame):
        missing = {"band", "centre_nm", "fwhm_nm"} - set(target.columns)
        if missing:
            raise ValueError(f"target band table lacks columns {sorted(missing)}")
        if method == "srf":
            raise ValueError("method 'srf' needs a tabulated SRF; use method='gaussian'")
        centre = target["centre_nm"].to_numpy(dtype=float)
        fwhm = target["fwhm_nm"].to_numpy(dtype=float)
        lo = float(np.floor(np.min(centre - TRUNCATE_FWHM * fwhm)))
        hi = float(np.ceil(np.max(centre + TRUNCATE_FWHM * fwhm)))
        names = tuple(str(b) for b in target["band"])
        label = "band table"
    else:
        srf = load_srf(target, version)
        wl = srf["wavelength"].to_numpy()
        centre = srf_centroid(srf)
        names = tuple(str(b) for b in srf["band"].to_numpy())
        label = f"{srf.attrs['sensor']} v{srf.attrs['version']}"
        if method != "gaussian":
            return names, wl, srf.transpose("band", "wavelength").to_numpy(), centre, label
        fwhm = srf_fwhm(srf)
        lo, hi = float(wl[0]), float(wl[-1])
    n_sub = max(1, int(np.ceil(20.0 / float(np.min(fwhm)))))
    grid = lo + np.arange(round((hi - lo) * n_sub) + 1) / n_sub
    resp = gaussian_srf(centre, fwhm, grid)
    resp[np.abs(grid[None, :] - centre[:, None]) > TRUNCATE_FWHM * fwhm[:, None]] = 0.0
    return names, grid, resp, centre, label


def _overlap_weights(
    grid: np.ndarray, resp: np.ndarray, c: np.ndarray, f: np.ndarray
) -> np.ndarray:
    """Exact ``integral S_k(lambda) g_i(lambda) dlambda`` for piecewise-linear ``S_k``.

    Args:
        grid: Wavelengths of the response samples (nm), ``(n_grid,)``, increasing.
        resp: Target responses at ``grid``, ``(n_tgt, n_grid)``, linear between samples.
        c: Source centres (nm), ``(n_src,)``.
        f: Source FWHM (nm), ``(n_src,)``.

    Returns:
        Weights ``(n_tgt, n_src)`` (unit-area Gaussian sources, so in units of the response).

    """
    sigma = f * FWHM_TO_SIGMA
    a, b = grid[:-1], grid[1:]
    # Only segments where some response is non-zero and some source is within 10 sigma count.
    active = ((resp[:, :-1] > 0) | (resp[:, 1:] > 0)).any(axis=0)
    near = np.zeros(a.size, dtype=bool)
    order = np.argsort(c)
    lo = np.searchsorted(b, (c - 10 * sigma)[order])
    hi = np.searchsorted(a, (c + 10 * sigma)[order])
    for i0, i1 in zip(lo, hi, strict=True):
        near[i0:i1] = True
    seg = np.flatnonzero(active & near)
    a, b = a[seg], b[seg]
    za = (a[None, :] - c[:, None]) / sigma[:, None]  # (n_src, n_seg)
    zb = (b[None, :] - c[:, None]) / sigma[:, None]
    d_cdf = np.where(za >= 0, ndtr(-za) - ndtr(-zb), ndtr(zb) - ndtr(za))  # tail-exact
    d_pdf = (np.exp(-0.5 * zb**2) - np.exp(-0.5 * za**2)) / np.sqrt(2.0 * np.pi)
    # integral over [a, b] of (lambda - a) N(lambda; c, sigma) = (c - a) dPhi - sigma dphi
    first = (c[:, None] - a[None, :]) * d_cdf - sigma[:, None] * d_pdf
    s_a = resp[:, seg]
    slope = (resp[:, seg + 1] - s_a) / (b - a)[None, :]  # (n_tgt, n_seg)
    return np.asarray(s_a @ d_cdf.T + slope @ first.T)


def _support_mask(grid: np.ndarray, c: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Mark where ``grid`` (nm) lies inside the source's spectral support."""
    order = np.argsort(c)
    cs, fs = c[order], f[order]
    inside = (grid >= np.min(cs - fs / 2)) & (grid <= np.max(cs + fs / 2))
    wide = np.flatnonzero(np.diff(cs) > GAP_FWHM * np.maximum(fs[:-1], fs[1:]))
    for j in wide:
        inside &= ~((grid > cs[j] + fs[j] / 2) & (grid < cs[j + 1] - fs[j + 1] / 2))
    return np.asarray(inside)


def build_resampler(
    source_nm: np.ndarray | list[float],
    source_fwhm_nm: float | np.ndarray | list[float] | None = None,
    *,
    target: str | pd.DataFrame = "S2A",
    version: str = "4.0",
    method: str = "naive",
    min_coverage: float = DEFAULT_MIN_COVERAGE,
) -> Resampler:
    """Build the linear map from source bands to target bands.

    Args:
        source_nm: Source band centres (nm), ``(n_src,)``, any order.
        source_fwhm_nm: Source FWHM (nm), scalar or ``(n_src,)``. Default: each band's distance
            to its nearest neighbour (logged).
        target: ``S2A``/``S2B``/``S2C`` (ESA table), or a table with columns ``band``,
            ``centre_nm``, ``fwhm_nm`` (Gaussian bands; methods ``naive`` and ``gaussian``).
        version: ESA SRF table version (``"4.0"`` or ``"3.0"``).
        method: ``naive``, ``srf`` or ``gaussian`` (see the module docstring).
        min_coverage: Target bands with less of their response inside the source support are NaN.

    Returns:
        The :class:`Resampler`.

    """
    if method not in METHODS:
        raise ValueError(f"unknown resampling method {method!r}; choose from {list(METHODS)}")
    if not 0.0 < min_coverage <= 1.0:
        raise ValueError(f"min_coverage must be in (0, 1], got {min_coverage}")
    c, f = _as_source(source_nm, source_fwhm_nm)
    names, grid, resp, centre, label = _target_response(target, version, method)
    area = resp.sum(axis=1)
    coverage = (resp * _support_mask(grid, c, f)).sum(axis=1) / area
    valid = coverage >= min_coverage - 1e-12
    if method == "naive":
        w = np.zeros((len(names), c.size))
        w[np.arange(len(names)), np.argmin(np.abs(c[None, :] - centre[:, None]), axis=1)] = 1.0
    else:
        w = np.zeros((len(names), c.size))
        w[valid] = _overlap_weights(grid, resp[valid], c, f)  # (n_valid, n_src)
        with np.errstate(invalid="ignore", divide="ignore"):
            w = w / w.sum(axis=1, keepdims=True)
        w = np.where(np.isfinite(w) & (w >= MIN_WEIGHT), w, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            w = np.nan_to_num(w / w.sum(axis=1, keepdims=True))
    w[~valid] = 0.0
    for name, cov, ok in zip(names, coverage, valid, strict=True):
        if not ok:
            logger.warning(
                "target band %s (%s) set to NaN: %.1f %% of its response lies inside the "
                "source's spectral support (min %.1f %%)",
                name,
                label,
                100 * cov,
                100 * min_coverage,
            )
    return Resampler(names, centre, c, f, w, coverage, valid, method, label, min_coverage)


def band_coverage(
    source_nm: np.ndarray | list[float],
    source_fwhm_nm: float | np.ndarray | list[float] | None = None,
    *,
    target: str | pd.DataFrame = "S2A",
    version: str = "4.0",
    method: str = "naive",
    min_coverage: float = DEFAULT_MIN_COVERAGE,
) -> pd.DataFrame:
    """Per-band coverage and source-band provenance (see :meth:`Resampler.provenance`)."""
    return build_resampler(
        source_nm,
        source_fwhm_nm,
        target=target,
        version=version,
        method=method,
        min_coverage=min_coverage,
    ).provenance()


def _out_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype of :meth:`Resampler.apply`'s result for input of ``dtype``."""
    return np.result_type(dtype, np.float32) if dtype.kind == "f" else np.dtype(float)


def _terramind_stats(res: Resampler, standardise: bool) -> tuple[np.ndarray, np.ndarray] | None:
    """TerraMind (mean, std) to standardise with, or None."""
    if not standardise:
        return None
    if res.bands != S2_L2A_BANDS:
        raise ValueError("standardise=True needs the 12 Sentinel-2 L2A bands as target")
    return TERRAMIND_S2L2A_MEAN, TERRAMIND_S2L2A_STD


def resample(
    data: Data,
    source_nm: np.ndarray | list[float] | None = None,
    *,
    source_fwhm_nm: float | np.ndarray | list[float] | None = None,
    target: str | pd.DataFrame = "S2A",
    version: str = "4.0",
    method: str = "naive",
    min_coverage: float = DEFAULT_MIN_COVERAGE,
    rrs_to_reflectance: bool = False,
    scale: float = 1.0,
    standardise: bool = False,
) -> Data:
    """Resample spectra to Sentinel-2 L2A bands (or Gaussian target bands).

    Output = resampled value x (pi if ``rrs_to_reflectance``) x ``scale``, then, if
    ``standardise``, ``(value - mean) / std`` with TerraMind's S2L2A statistics, which expect
    reflectance x 1e4 (from Rrs: ``rrs_to_reflectance=True, scale=1e4``).

    Args:
        data: One of
            * ``np.ndarray`` ``(..., n_src)`` -> ``np.ndarray`` ``(..., n_tgt)``;
            * ``xr.DataArray`` with a ``wavelength`` dim (any other dims, numpy or dask backed;
              dask stays lazy) -> ``xr.DataArray`` with ``wavelength`` replaced by a trailing
              ``band`` dim, carrying ``centre_nm``, ``coverage``, ``n_source_bands``,
              ``main_source_nm`` coordinates on ``band`` and the settings in ``attrs``;
            * ``pd.DataFrame`` with ``Rrs_<nm>`` columns -> ``pd.DataFrame`` with the other
              columns kept and one column per target band (``B01`` ... ``B12``).
        source_nm: Source centres (nm), ``(n_src,)``. Default: the ``wavelength`` coordinate or the
            ``Rrs_<nm>`` column wavelengths; required for arrays.
        source_fwhm_nm: Source FWHM (nm); see :func:`build_resampler`.
        target: Target sensor or band table; see :func:`build_resampler`.
        version: ESA SRF table version.
        method: ``naive``, ``srf`` or ``gaussian``.
        min_coverage: Coverage threshold; bands below it are NaN.
        rrs_to_reflectance: Multiply by pi (Rrs, sr-1 -> water-leaving reflectance rho_w = pi Rrs).
        scale: Multiplier applied after resampling (1e4 for TerraMind's reflectance x 1e4).
        standardise: Standardise with ``TERRAMIND_S2L2A_MEAN`` / ``TERRAMIND_S2L2A_STD``.

    Returns:
        The same kind of object as ``data`` (see above). Per-band coverage and provenance:
        :func:`band_coverage` with the same arguments.

    """
    if isinstance(data, pd.DataFrame):
        cols, col_nm = find_rrs_columns(data)
        nm = col_nm if source_nm is None else np.asarray(source_nm, dtype=float)
        if nm.size != len(cols):
            raise ValueError(
                f"source_nm has {nm.size} values but the table has {len(cols)} Rrs columns"
            )
    elif isinstance(data, xr.DataArray):
        if "wavelength" not in data.dims:
            raise ValueError(f"DataArray has no 'wavelength' dim (dims: {data.dims})")
        if source_nm is None:
            if "wavelength" not in data.coords:
                raise ValueError("DataArray has no 'wavelength' coordinate; pass source_nm")
            nm = data["wavelength"].to_numpy().astype(float)
        else:
            nm = np.asarray(source_nm, dtype=float)
    else:
        if source_nm is None:
            raise ValueError("source_nm is required for a numpy array")
        nm = np.asarray(source_nm, dtype=float)
    res = build_resampler(
        nm, source_fwhm_nm, target=target, version=version, method=method, min_coverage=min_coverage
    )
    factor = float(scale) * (np.pi if rrs_to_reflectance else 1.0)
    stats = _terramind_stats(res, standardise)

    def run(x: np.ndarray) -> np.ndarray:
        y = res.apply(x) * factor  # a Python float keeps float32 float32 (NumPy 2)
        return y if stats is None else (y - stats[0].astype(y.dtype)) / stats[1].astype(y.dtype)

    if isinstance(data, pd.DataFrame):
        clash = [b for b in res.bands if b in data.columns]
        if clash:
            raise ValueError(f"input table already has columns {clash}")
        values = run(data[cols].to_numpy(dtype=float))  # table columns stay float64
        out_df = data.drop(columns=cols).copy()
        for j, b in enumerate(res.bands):
            out_df[b] = values[:, j]
        out_df.attrs["resample"] = res.provenance().to_dict(orient="list")
        return out_df
    if isinstance(data, xr.DataArray):
        if nm.size != data.sizes["wavelength"]:
            raise ValueError(
                f"source_nm has {nm.size} values but 'wavelength' has {data.sizes['wavelength']}"
            )
        out = xr.apply_ufunc(
            run,
            data,
            input_core_dims=[["wavelength"]],
            output_core_dims=[["band"]],
            dask="parallelized",
            output_dtypes=[_out_dtype(data.dtype)],
            dask_gufunc_kwargs={"output_sizes": {"band": len(res.bands)}, "allow_rechunk": True},
        )
        prov = res.provenance()
        out = out.assign_coords(
            band=list(res.bands),
            centre_nm=("band", res.centre_nm),
            coverage=("band", res.coverage),
            n_source_bands=("band", prov["n_source_bands"].to_numpy()),
            main_source_nm=("band", prov["main_source_nm"].to_numpy()),
        )
        out.name = data.name
        units = str(data.attrs.get("units", ""))
        if rrs_to_reflectance:
            units = "1"
        if standardise:
            units = "1 (TerraMind-standardised)"
        out.attrs = {
            "units": units,
            "resample_method": res.method,
            "resample_target": res.target,
            "min_coverage": res.min_coverage,
            "invalid_bands": ",".join(
                b for b, v in zip(res.bands, res.valid, strict=True) if not v
            ),
            "rrs_to_reflectance": int(rrs_to_reflectance),
            "scale": float(scale),
            "standardised": int(standardise),
        }
        return out
    return run(np.asarray(data))


_SENSORS = ("pace_oci", "enmap")


def _sensor_bands(sensor: str, wavelengths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact centres and FWHM (nm) of a known sensor's bands at the given nominal wavelengths."""
    from spectm.spectral.bands import enmap_bands, pace_oci_rrs_bands

    if sensor == "pace_oci":
        tab = pace_oci_rrs_bands()
        key, tol = tab["wavelength"].to_numpy(dtype=float), 0.01
    elif sensor == "enmap":
        tab = enmap_bands()
        key, tol = tab["centre_nm"].to_numpy(dtype=float), 0.01
    else:
        raise ValueError(f"unknown sensor {sensor!r}; choose from {list(_SENSORS)}")
    idx = np.argmin(np.abs(key[None, :] - wavelengths[:, None]), axis=1)
    off = np.abs(key[idx] - wavelengths) > tol
    if off.any():
        raise ValueError(f"wavelengths {wavelengths[off][:5].tolist()} nm are not {sensor} bands")
    return tab["centre_nm"].to_numpy(dtype=float)[idx], tab["fwhm_nm"].to_numpy(dtype=float)[idx]


def _band_table(
    src: Path, df: pd.DataFrame, wavelength_file: str | os.PathLike[str]
) -> tuple[np.ndarray, np.ndarray | None, dict[str, str]]:
    """Wavelengths (nm, sorted), FWHM (nm) and the column renaming of band-numbered spectra.

    Raises:
        ValueError: naming the band table (row and column) or the spectra file when they do not
            fit: no ``wavelength_nm``, text in a number column, wavelengths not in nm or
            repeated, FWHM not > 0, band numbers without a row, or a row count that differs.

    """
    wpath = Path(wavelength_file)
    wwhat = "a band table CSV with wavelength_nm (nm) and optional band, fwhm_nm (nm) columns"
    wtab, wlines = read_csv_table(wpath, wwhat)
    if "wavelength_nm" not in wtab.columns:
        raise ValueError(
            f"{wpath}: no 'wavelength_nm' column (columns: {list(wtab.columns)[:8]}); "
            f"expected {wwhat}"
        )
    for col in ("band", "wavelength_nm", "fwhm_nm"):
        if col in wtab.columns:
            expected = "a band number (integer >= 1)" if col == "band" else "a number of nm"
            wtab[col] = numeric_column(wpath, wtab, col, wlines, expected)
    numbered = [c for c in df.columns if str(c).strip().isdigit()]
    if not numbered:
        raise ValueError(f"{src}: no plain band-number columns to pair with {wpath}")
    if "band" in wtab.columns:
        band = wtab["band"].to_numpy(dtype=float)
        bad = ~np.isfinite(band) | (band % 1 != 0) | (band < 1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{wpath}: {row_name(i, wlines)}, column 'band': {band[i]:g} is not a band "
                "number; expected an integer >= 1"
            )
        wtab = wtab.set_index(wtab["band"].astype(int))
        if wtab.index.duplicated().any():
            raise ValueError(
                f"{wpath}: column 'band' repeats {int(wtab.index[wtab.index.duplicated()][0])}; "
                "expected one row per band"
            )
        lost = [c for c in numbered if int(c) not in wtab.index]
        if lost:
            raise ValueError(f"{wpath}: no row for band columns {lost[:5]} of {src}")
        rows = wtab.loc[[int(c) for c in numbered]]
    elif len(wtab) == len(numbered):
        rows = wtab
    else:
        raise ValueError(f"{wpath} has {len(wtab)} rows for {len(numbered)} band columns of {src}")
    file_nm = check_wavelengths(
        rows["wavelength_nm"].to_numpy(dtype=float), f"{wpath}: column wavelength_nm"
    )
    fwhm = None
    order = np.argsort(file_nm, kind="stable")  # resample() reads Rrs columns sorted by nm
    if "fwhm_nm" in rows.columns:
        fwhm = rows["fwhm_nm"].to_numpy(dtype=float)
        if not (np.isfinite(fwhm) & (fwhm > 0)).all():
            i = int(np.flatnonzero(~(np.isfinite(fwhm) & (fwhm > 0)))[0])
            raise ValueError(
                f"{wpath}: column fwhm_nm of band {numbered[i]} is {fwhm[i]:g}; expected a "
                "FWHM > 0 nm"
            )
        fwhm = fwhm[order]
    names = dict(zip(numbered, rrs_columns(file_nm), strict=True))
    return file_nm[order], fwhm, names


def write_resampled_table(
    in_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    target: str,
    version: str,
    method: str = "srf",
    wavelength_file: str | os.PathLike[str] | None = None,
    sensor: str | None = None,
    fwhm_nm: float | None = None,
    min_coverage: float = DEFAULT_MIN_COVERAGE,
    rrs_to_reflectance: bool = False,
    scale: float = 1.0,
    standardise: bool = False,
    coverage_path: str | os.PathLike[str] | None = None,
) -> pd.DataFrame:
    """Resample a spectra table (CSV or Parquet) to Sentinel-2 bands and write a CSV.

    Spectral columns are ``Rrs_<nm>``; or, with ``wavelength_file``, columns named by plain band
    numbers (``1``, ``2``, ...) described by a CSV with ``wavelength_nm`` (and optional ``band``,
    matching the column numbers, and ``fwhm_nm``) columns.

    Input checks (:mod:`spectm.inputs`): the files must be readable tables (not empty, UTF-16
    or binary; every CSV record as long as the header), wavelengths in nm (not um) without
    repeats, every spectral cell a number (the row and column are named otherwise) and, for
    ``Rrs_<nm>`` columns, ``|Rrs| <= 1/pi`` sr-1.

    Args:
        in_path: Input table, one spectrum per row.
        out_path: Output CSV: the input's other columns plus ``B01`` ... ``B12``.
        target: Target sensor (``S2A``, ``S2B``, ``S2C``).
        version: ESA SRF table version.
        method: ``naive``, ``srf`` or ``gaussian``.
        wavelength_file: Band table for plain-numbered spectral columns.
        sensor: ``pace_oci`` or ``enmap``: take exact centres and FWHM from the bundled band table
            for the nominal column wavelengths.
        fwhm_nm: One FWHM (nm) for every source band (overrides the band tables).
        min_coverage: Coverage threshold.
        rrs_to_reflectance: Multiply by pi.
        scale: Multiplier after resampling.
        standardise: TerraMind standardisation.
        coverage_path: Optional CSV for the per-band coverage/provenance table.

    Returns:
        The per-band coverage/provenance table.

    """
    src = Path(in_path)
    what = "a table of Rrs_<nm> spectra (sr-1, one spectrum per row)"
    fwhm: np.ndarray | float | None = None
    if wavelength_file is not None:
        # any unit (e.g. EnMAP reflectance x 10^4): numbers are checked, magnitudes are not
        what = "a table of spectra in band-number columns (one spectrum per row)"
        df, lines = read_table(src, what)
        nm, fwhm, names = _band_table(src, df, wavelength_file)
        for c in names:
            df[c] = numeric_column(src, df, c, lines, "a number (the spectrum in this band)")
        df = df.rename(columns=names)
    else:
        df, _, nm = read_spectra_table(src, what)
    if sensor is not None:
        try:
            nm, fwhm = _sensor_bands(sensor, nm)
        except ValueError as err:
            raise ValueError(f"{src}: {err}; expected the {sensor} band centres") from None
    if fwhm_nm is not None:
        fwhm = float(fwhm_nm)
    out = resample(
        df,
        nm,
        source_fwhm_nm=fwhm,
        target=target,
        version=version,
        method=method,
        min_coverage=min_coverage,
        rrs_to_reflectance=rrs_to_reflectance,
        scale=scale,
        standardise=standardise,
    )
    out.attrs = {}
    write_csv(out, out_path)
    prov = band_coverage(
        nm, fwhm, target=target, version=version, method=method, min_coverage=min_coverage
    )
    if coverage_path is not None:
        write_csv(prov, coverage_path)
    return prov
