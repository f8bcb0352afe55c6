"""Apply a deployable SpecTM microcystin model to new spectra and to chips.

The deployable model file is defined in :mod:`spectm.model.pretrained` (written by
:func:`spectm.train.deploy.train_deployable`).

Prediction: spectra at any wavelengths are linearly resampled onto the model grid
(:func:`spectm.spectral.grids.resample_to_grid`); NaN bands become mask tokens; every band is
visible otherwise (no masking at inference). The estimate is ``10**pred`` ug/L (the
back-transformed log10 prediction, no bias correction) and the interval
``[10**(pred - q), 10**(pred + q)]``.

Input domain. Physically impossible input is an error (:func:`check_physical`): an Rrs magnitude
above :data:`RRS_MAX_SR` (water-leaving reflectance pi*Rrs > 1: reflectance scaled by 10**4, in
percent, or fill values that are not NaN), or a spectrum whose median over the bands the model
reads is below ``-RRS_NOISE_SR`` (negative as a whole: a negated spectrum). Possible but
out-of-domain spectra are predicted and flagged (:func:`domain_flags`; ``ood_flag``/``ood_reason``
columns, an ``ood_flag`` map variable, one logged warning per input file): a model-grid band below
``-RRS_NOISE_SR``, or a spectrum outside the envelope of the training spectra stored in the
deployable model (:func:`spectm.train.deploy.fit_domain_envelope`). Model files written before the
envelope existed get the physical checks and the negative-band flag only, and a log line says so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from spectm._io import PathLike, write_csv, write_netcdf
from spectm.inputs import check_rrs_magnitude, read_spectra_table
from spectm.io.chips import load_chip_pixels
from spectm.model.pretrained import Deployable, DomainEnvelope, load_deployable
from spectm.spectral.grids import resample_to_grid
from spectm.tables import find_rrs_columns

logger = logging.getLogger(__name__)

OUTPUT_COLUMNS = (
    "log10_microcystin_pred",
    "microcystin_ugL",
    "microcystin_lo_ugL",
    "microcystin_hi_ugL",
    "interval_level",
    "ood_flag",
    "ood_reason",
)
"""Columns :func:`predict_spectra` appends to the input's id columns."""

RRS_NOISE_SR = 0.002
"""Noise scale of Rrs (sr-1). Assumption: PACE OCI Rrs noise/uncertainty is of order 1e-3 sr-1,
so values down to -0.002 sr-1 are noise around zero; a model-grid band below -0.002 sr-1 is flagged
(``negative_band``: atmospheric-correction failure or wrong input) and a spectrum whose median over
the bands the model reads is below -0.002 sr-1 (negative as a whole: negated input) is an error."""

OOD_NEGATIVE_BAND = 1
"""``ood_flag`` bit: a model-grid band below ``-RRS_NOISE_SR``."""
OOD_OUTSIDE_ENVELOPE = 2
"""``ood_flag`` bit: too many bands outside the training envelope (shape or level)."""
OOD_BRIGHTNESS = 4
"""``ood_flag`` bit: overall brightness outside the training range (widened)."""
OOD_REASONS = {
    OOD_NEGATIVE_BAND: "negative_band",
    OOD_OUTSIDE_ENVELOPE: "outside_envelope",
    OOD_BRIGHTNESS: "brightness",
}
"""Bit -> the name used in ``ood_reason`` and in the map's ``flag_meanings``."""

MIN_VALID_FRACTION = 0.9
"""A spectrum is predicted only when at least this fraction of model-grid bands is finite
(assumption: fewer measured bands leave too much to the mask tokens); else the output is NaN."""


def domain_flags(envelope: DomainEnvelope | None, spectra_grid: np.ndarray) -> np.ndarray:
    """Out-of-domain bits (:data:`OOD_REASONS`) of spectra on the model grid; 0 = in domain.

    ``negative_band``: a finite band below ``-RRS_NOISE_SR``. With an envelope, also
    ``outside_envelope``: more than ``max_outside_fraction`` of the finite bands outside
    ``[lo - tol, hi + tol]``; and ``brightness``: brightness (:meth:`DomainEnvelope.brightness`)
    above the training range times ``brightness_margin`` or below it divided by the margin (no
    lower limit when the training range starts at or below zero).

    Args:
        envelope: The model's training envelope (None: only ``negative_band``).
        spectra_grid: Rrs (sr-1) on the model grid, shape (n, n_grid).

    Returns:
        uint8 bit flags, shape (n,).

    """
    x = np.asarray(spectra_grid, dtype=float)
    finite = np.isfinite(x)
    xf = np.where(finite, x, 0.0)
    bits = np.where((xf < -RRS_NOISE_SR).any(axis=1), OOD_NEGATIVE_BAND, 0)
    if envelope is not None:
        lo, hi, tol = (np.asarray(v, dtype=float) for v in (envelope.lo, envelope.hi, envelope.tol))
        outside = finite & ((xf < lo - tol) | (xf > hi + tol))
        frac = outside.sum(axis=1) / np.maximum(finite.sum(axis=1), 1)
        bits = bits | np.where(frac > envelope.max_outside_fraction, OOD_OUTSIDE_ENVELOPE, 0)
        b = envelope.brightness(x)
        b_lo, b_hi = envelope.brightness_range
        margin = envelope.brightness_margin
        # no darkness limit when the darkest training spectra average <= 0 (negative blue bands)
        floor = b_lo / margin if b_lo > 0 else -np.inf
        dark_or_bright = np.isfinite(b) & ((b < floor) | (b > b_hi * margin))
        bits = bits | np.where(dark_or_bright, OOD_BRIGHTNESS, 0)
    return bits.astype(np.uint8)


def ood_reasons(bits: np.ndarray) -> list[str]:
    """``ood_reason`` strings of :func:`domain_flags` bits: names joined by ``;`` ("" = none)."""
    return [";".join(name for bit, name in OOD_REASONS.items() if int(b) & bit) for b in bits]


def _model_bands(wl: np.ndarray, grid_nm: np.ndarray) -> np.ndarray:
    """Input bands the linear resampling onto the grid reads (the grid's span plus neighbours)."""
    w = np.asarray(wl, dtype=float)
    i0 = max(int(np.searchsorted(w, grid_nm.min(), side="right")) - 1, 0)
    i1 = min(int(np.searchsorted(w, grid_nm.max(), side="left")), w.size - 1)
    idx = np.arange(w.size)
    return (idx >= i0) & (idx <= i1)


def check_physical(
    rrs: np.ndarray,
    wl: np.ndarray,
    grid_nm: np.ndarray,
    *,
    what: str,
    label: Callable[[int], str],
    band: Callable[[int], str],
) -> None:
    """Refuse physically impossible Rrs: ``|Rrs| > RRS_MAX_SR`` or a negative spectrum.

    Args:
        rrs: Rrs (sr-1) at the input wavelengths, shape (n, n_wl); NaN = missing.
        wl: Input wavelengths (nm), increasing, shape (n_wl,).
        grid_nm: The model grid (nm); the negative-spectrum test uses the input bands it reads.
        what: The input (file) for the message.
        label: Row index -> its name in messages (``row_id 'x'``, ``pixel (y=1, x=2)``).
        band: Band index -> its name in messages (``column Rrs_560``, ``560 nm``).

    Raises:
        ValueError: naming ``what``, the first offending row, the band, the value and what was
            expected.

    """
    check_rrs_magnitude(rrs, what, row=label, band=band)
    x = np.asarray(rrs, dtype=float)
    used = np.flatnonzero(_model_bands(wl, grid_nm))
    xu = x[:, used]
    finite = np.isfinite(xu)
    n_finite = finite.sum(axis=1)
    # median over each row's finite bands; rows without any are skipped (predicted as NaN)
    ordered = np.sort(np.where(finite, xu, np.inf), axis=1)
    rows = np.flatnonzero(n_finite > 0)
    k = n_finite[rows]
    med = np.full(x.shape[0], np.nan)
    med[rows] = 0.5 * (ordered[rows, (k - 1) // 2] + ordered[rows, k // 2])
    with np.errstate(invalid="ignore"):
        negative = med < -RRS_NOISE_SR
    if negative.any():
        i = int(np.argmax(negative))
        j = int(used[int(np.nanargmin(np.where(finite[i], xu[i], np.nan)))])
        raise ValueError(
            f"{what}: {label(i)} is negative as a whole: median Rrs {med[i]:.4g} sr-1 over the "
            f"{int(n_finite[i])} bands the model reads ({band(int(used[0]))} to "
            f"{band(int(used[-1]))}; lowest {band(j)} = {x[i, j]:.4g}); expected a median >= "
            f"-{RRS_NOISE_SR} sr-1 (Rrs is non-negative up to noise): negated input?"
        )


def _pixel_label(i: int, *, offset: int, nx: int) -> str:
    """``pixel (y=.., x=..)`` of the ``i``-th pixel of a chunk starting at flat pixel ``offset``."""
    y, x = divmod(offset + i, nx)
    return f"pixel (y={y}, x={x})"


def _warn_flags(what: str, bits: np.ndarray, n_predicted: int) -> None:
    """One warning for an input with out-of-domain spectra: count, fraction, reasons."""
    n_flagged = int((bits > 0).sum())
    if n_flagged == 0:
        return
    counts = ", ".join(f"{name} {int((bits & bit > 0).sum())}" for bit, name in OOD_REASONS.items())
    logger.warning(
        "%s: %d of %d predicted spectra (%.1f%%) are outside the training domain (%s); their "
        "estimates are extrapolations (see ood_flag/ood_reason)",
        what,
        n_flagged,
        n_predicted,
        100.0 * n_flagged / max(n_predicted, 1),
        counts,
    )


def _load(model_path: PathLike, device: str) -> Deployable:
    dep = load_deployable(model_path, device=device)
    if dep.envelope is None:
        logger.warning(
            "%s: no training-domain envelope stored (written before the out-of-domain check); "
            "only the physical checks and the negative-band flag apply",
            dep.path,
        )
    return dep


def _predict_grid(
    dep: Deployable, spectra_grid: np.ndarray, min_valid_fraction: float
) -> np.ndarray:
    """log10 predictions (n,) for spectra on the grid; NaN where too few bands are finite."""
    finite = np.isfinite(spectra_grid).mean(axis=1) >= min_valid_fraction  # (n,)
    out = np.full(spectra_grid.shape[0], np.nan)
    if finite.any():
        out[finite] = dep.predict_log10(spectra_grid[finite])
    return out


def _interval_columns(dep: Deployable, pred: np.ndarray) -> dict[str, np.ndarray]:
    q = dep.halfwidth_log10
    with np.errstate(over="ignore"):
        return {
            "log10_microcystin_pred": pred,
            "microcystin_ugL": 10.0**pred,
            "microcystin_lo_ugL": 10.0 ** (pred - q),
            "microcystin_hi_ugL": 10.0 ** (pred + q),
        }


def predict_spectra(
    model_path: PathLike,
    spectra: pd.DataFrame,
    *,
    device: str = "cpu",
    min_valid_fraction: float = MIN_VALID_FRACTION,
    what: str = "spectra table",
) -> pd.DataFrame:
    """Microcystin estimates with conformal intervals for a table of spectra.

    Args:
        model_path: Deployable model (:func:`spectm.train.deploy.train_deployable`).
        spectra: One spectrum per row in ``Rrs_<nm>`` columns (sr-1) at any wavelengths covering
            the model grid; all other columns are kept as id columns.
        device: Torch device for the encoder.
        min_valid_fraction: Rows with fewer finite grid bands get NaN predictions.
        what: Name of the input for error messages.

    Returns:
        The id columns followed by :data:`OUTPUT_COLUMNS` (ug/L; ``interval_level`` = 1 - alpha;
        ``ood_flag`` True where the spectrum is outside the training domain, with the reasons in
        ``ood_reason`` (names of :data:`OOD_REASONS` joined by ``;``); False and "" for in-domain
        rows and rows without a prediction). One warning is logged when any row is flagged.

    Raises:
        ValueError: when the spectra do not cover the model grid (naming the missing range), an
            output column already exists, the table has no ``Rrs_<nm>`` column, or a value is
            physically impossible (:func:`check_physical`: naming the row and column).

    """
    dep = _load(model_path, device)
    cols, wl = find_rrs_columns(spectra)
    clash = [c for c in OUTPUT_COLUMNS if c in spectra.columns]
    if clash:
        raise ValueError(f"{what}: input already has output column(s) {clash}")
    rrs = spectra[cols].to_numpy(dtype=float)
    names = spectra["row_id"].to_numpy() if "row_id" in spectra.columns else spectra.index
    kind = "row_id" if "row_id" in spectra.columns else "row"
    check_physical(
        rrs,
        wl,
        dep.grid_nm,
        what=what,
        label=lambda i: f"{kind} {names[i]!r}",
        band=lambda j: f"column {cols[j]}",
    )
    grid = resample_to_grid(rrs, wl, dep.grid_nm, what=what)
    pred = _predict_grid(dep, grid, min_valid_fraction)
    ok = np.isfinite(pred)
    bits = np.zeros(len(pred), dtype=np.uint8)
    bits[ok] = domain_flags(dep.envelope, grid[ok])
    _warn_flags(what, bits[ok], int(ok.sum()))
    out = spectra.drop(columns=cols).reset_index(drop=True)
    for name, values in _interval_columns(dep, pred).items():
        out[name] = values
    out["interval_level"] = dep.interval_level
    out["ood_flag"] = bits > 0
    out["ood_reason"] = ood_reasons(bits)
    return out


def predict_file(
    checkpoint: PathLike, spectra_csv: PathLike, out_csv: PathLike, *, device: str = "cpu"
) -> Path:
    """``spectm predict``: read spectra (CSV, or Parquet by suffix), write predictions CSV.

    Args:
        checkpoint: Deployable model file.
        spectra_csv: Input table (``.parquet``/``.pq`` read as Parquet, anything else as CSV).
        out_csv: Output CSV (written atomically).
        device: Torch device.

    Returns:
        ``out_csv``.

    Raises:
        FileNotFoundError: naming the spectra file or the model file when it does not exist.
        ValueError: naming the file (and row/column) when the spectra table is unreadable or
            not ``Rrs_<nm>`` numbers (:func:`spectm.inputs.read_spectra_table`), the model file
            is not a deployable model, or a spectrum is physically impossible.

    """
    src = Path(spectra_csv)
    # file, encoding, CSV shape, Rrs_<nm> columns, numbers: checked before the model is loaded;
    # the physical checks (naming row_id) follow in predict_spectra
    table, _, _ = read_spectra_table(src, check_magnitude=False)
    out = predict_spectra(checkpoint, table, device=device, what=str(src))
    return write_csv(out, out_csv)


def predict_chip(
    model_path: PathLike,
    chip_path: PathLike,
    out_nc: PathLike,
    out_png: PathLike,
    *,
    device: str = "cpu",
    chunk_pixels: int = 16384,
    min_valid_fraction: float = MIN_VALID_FRACTION,
    out_tif: PathLike | None = None,
) -> Path:
    """Per-pixel microcystin map of one chip: a NetCDF, a PNG and a GeoTIFF, written atomically.

    Args:
        model_path: Deployable model file.
        chip_path: Chip (NetCDF-4: ``Rrs`` (y, x, wavelength) sr-1 float32, NaN invalid; 2-D
            ``lat``/``lon``; attributes ``granule``, ``time_coverage_start``).
        out_nc: Output NetCDF: ``microcystin_ugL``, ``microcystin_lo_ugL``, ``microcystin_hi_ugL``
            (y, x) float32 ug/L, NaN where the pixel is invalid; ``ood_flag`` (y, x) uint8 bits
            of :data:`OOD_REASONS` (0 = in the training domain; fill 255, read as NaN, where there
            is no estimate); ``lat``/``lon``; provenance attrs.
        out_png: Output map (log colour scale).
        device: Torch device.
        chunk_pixels: Pixels resampled and encoded at a time (bounds memory).
        min_valid_fraction: Pixels with fewer finite grid bands are left NaN.
        out_tif: Optional Cloud-Optimized GeoTIFF on a regular EPSG:4326 grid
            (:func:`spectm.report.maps.write_microcystin_geotiff`).

    Returns:
        ``out_nc``.

    Raises:
        ValueError: naming the chip when it does not cover the model grid or holds a physically
            impossible value (:func:`check_physical`: the pixel and the wavelength).

    """
    from spectm.report.maps import (  # matplotlib only when mapping
        plot_microcystin_map,
        write_microcystin_geotiff,
    )

    chip = Path(chip_path)
    dep = _load(model_path, device)
    pixels = load_chip_pixels(chip)
    attrs, wl = pixels.header.attrs, pixels.header.wavelength
    ny, nx = pixels.shape
    flat = pixels.rrs  # (n_pixels, n_wl)
    lat, lon = pixels.lat.reshape(ny, nx), pixels.lon.reshape(ny, nx)
    what = f"chip {chip}"
    resample_to_grid(flat[:0], wl, dep.grid_nm, what=what)  # coverage check first
    for start in range(0, ny * nx, chunk_pixels):  # all pixels checked before any is predicted
        check_physical(
            flat[start : start + chunk_pixels],
            wl,
            dep.grid_nm,
            what=what,
            label=partial(_pixel_label, offset=start, nx=nx),
            band=lambda j: f"Rrs at {wl[j]:g} nm",
        )
    pred = np.full(ny * nx, np.nan)
    bits = np.zeros(ny * nx, dtype=np.uint8)
    for start in range(0, ny * nx, chunk_pixels):
        part = slice(start, start + chunk_pixels)
        grid = resample_to_grid(flat[part], wl, dep.grid_nm, what=what)
        part_pred = _predict_grid(dep, grid, min_valid_fraction)
        part_ok = np.isfinite(part_pred)
        part_bits = np.zeros(part_pred.size, dtype=np.uint8)
        part_bits[part_ok] = domain_flags(dep.envelope, grid[part_ok])
        pred[part], bits[part] = part_pred, part_bits
    ok = np.isfinite(pred)
    _warn_flags(what, bits[ok], int(ok.sum()))
    cols = _interval_columns(dep, pred)
    long_names = {
        "microcystin_ugL": "particulate microcystin, model estimate",
        "microcystin_lo_ugL": f"lower bound of the {dep.interval_level:.0%} conformal interval",
        "microcystin_hi_ugL": f"upper bound of the {dep.interval_level:.0%} conformal interval",
    }
    data_vars: dict[str, tuple[Any, ...]] = {
        name: (
            ("y", "x"),
            cols[name].reshape(ny, nx).astype(np.float32),
            {"units": "ug L-1", "long_name": long},
        )
        for name, long in long_names.items()
    }
    data_vars["ood_flag"] = (
        ("y", "x"),
        np.where(ok, bits, np.nan).reshape(ny, nx).astype(np.float32),
        {
            "long_name": "outside the training domain of the model (0 = inside)",
            "flag_masks": np.array(list(OOD_REASONS), dtype=np.uint8),
            "flag_meanings": " ".join(OOD_REASONS.values()),
            "comment": "bits of spectm.predict.domain_flags; missing where there is no estimate",
        },
    )
    training = dep.info.get("training", {})
    out_attrs: dict[str, Any] = {
        "title": "SpecTM microcystin estimate (model estimate, not a measurement)",
        "granule": str(attrs["granule"]),
        "time_coverage_start": str(attrs["time_coverage_start"]),
        "source_chip": chip.name,
        "data_kind": "demo" if "spectm_demo" in attrs else "real",
        "model_file": str(dep.path),
        "model_method": str(dep.info.get("method", "")),
        "model_mode": str(dep.info.get("mode", "")),
        "model_horizon": str(dep.info.get("horizon", "")),
        "model_grid": dep.meta.grid,
        "mask_strategy": dep.meta.mask_strategy,
        "pretrained_checkpoint": str(dep.info.get("checkpoint", "")),
        "training_datasets": " ".join(str(d) for d in training.get("datasets", [])),
        "training_n": int(training.get("n", 0)),
        "training_dates": f"{training.get('date_min', '')}/{training.get('date_max', '')}",
        "interval_level": dep.interval_level,
        "conformal_halfwidth_log10": dep.halfwidth_log10,
        "min_valid_fraction": min_valid_fraction,
        "n_predicted_pixels": int(ok.sum()),
        "n_ood_pixels": int((bits[ok] > 0).sum()),
        "ood_envelope": "none (physical checks only)" if dep.envelope is None else "training",
    }
    if "spectm_demo" in attrs:
        out_attrs["spectm_demo"] = str(attrs["spectm_demo"])
    ds = xr.Dataset(
        data_vars,
        coords={
            "lat": (("y", "x"), lat, {"units": "degrees_north"}),
            "lon": (("y", "x"), lon, {"units": "degrees_east"}),
        },
        attrs=out_attrs,
    )
    write_netcdf(ds, out_nc, encoding={"ood_flag": {"dtype": "uint8", "_FillValue": 255}})
    plot_microcystin_map(ds, out_png)
    if out_tif is not None:
        write_microcystin_geotiff(ds, out_tif)
    return Path(out_nc)
