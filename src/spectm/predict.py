"""Apply a deployable SpecTM microcystin model to new spectra and to chips.

The deployable model file is defined in :mod:`spectm.model.pretrained` (written by
:func:`spectm.train.deploy.train_deployable`).

Prediction: spectra at any wavelengths are linearly resampled onto the model grid
(:func:`spectm.spectral.grids.resample_to_grid`); NaN bands become mask tokens; every band is
visible otherwise (no masking at inference). The estimate is ``10**pred`` ug/L (the
back-transformed log10 prediction, no bias correction) and the interval
``[10**(pred - q), 10**(pred + q)]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from spectm._io import PathLike, write_csv, write_netcdf
from spectm.io.chips import load_chip_pixels
from spectm.model.pretrained import Deployable, load_deployable
from spectm.spectral.grids import resample_to_grid
from spectm.tables import find_rrs_columns

OUTPUT_COLUMNS = (
    "log10_microcystin_pred",
    "microcystin_ugL",
    "microcystin_lo_ugL",
    "microcystin_hi_ugL",
    "interval_level",
)
"""Columns :func:`predict_spectra` appends to the input's id columns."""

MIN_VALID_FRACTION = 0.9
"""A spectrum is predicted only when at least this fraction of model-grid bands is finite
(assumption: fewer measured bands leave too much to the mask tokens); else the output is NaN."""


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
        The id columns followed by :data:`OUTPUT_COLUMNS` (ug/L; ``interval_level`` = 1 - alpha).

    Raises:
        ValueError: when the spectra do not cover the model grid (naming the missing range), an
            output column already exists, or the table has no ``Rrs_<nm>`` column.

    """
    dep = load_deployable(model_path, device=device)
    cols, wl = find_rrs_columns(spectra)
    clash = [c for c in OUTPUT_COLUMNS if c in spectra.columns]
    if clash:
        raise ValueError(f"{what}: input already has output column(s) {clash}")
    grid = resample_to_grid(spectra[cols].to_numpy(dtype=float), wl, dep.grid_nm, what=what)
    pred = _predict_grid(dep, grid, min_valid_fraction)
    out = spectra.drop(columns=cols).reset_index(drop=True)
    for name, values in _interval_columns(dep, pred).items():
        out[name] = values
    out["interval_level"] = dep.interval_level
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

    """
    src = Path(spectra_csv)
    if not src.is_file():
        raise FileNotFoundError(f"spectra file not found: {src}")
    table = pd.read_parquet(src) if src.suffix in (".parquet", ".pq") else pd.read_csv(src)
    try:
        find_rrs_columns(table)
    except ValueError as err:
        raise ValueError(f"{src}: {err}") from err
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
) -> Path:
    """Per-pixel microcystin map of one chip: a NetCDF and a PNG, both written atomically.

    Args:
        model_path: Deployable model file.
        chip_path: Chip (NetCDF-4: ``Rrs`` (y, x, wavelength) sr-1 float32, NaN invalid; 2-D
            ``lat``/``lon``; attributes ``granule``, ``time_coverage_start``).
        out_nc: Output NetCDF: ``microcystin_ugL``, ``microcystin_lo_ugL``, ``microcystin_hi_ugL``
            (y, x) float32 ug/L, NaN where the pixel is invalid; ``lat``/``lon``; provenance attrs.
        out_png: Output map (log colour scale).
        device: Torch device.
        chunk_pixels: Pixels resampled and encoded at a time (bounds memory).
        min_valid_fraction: Pixels with fewer finite grid bands are left NaN.

    Returns:
        ``out_nc``.

    """
    from spectm.report.maps import plot_microcystin_map  # matplotlib only when mapping

    chip = Path(chip_path)
    dep = load_deployable(model_path, device=device)
    pixels = load_chip_pixels(chip)
    attrs, wl = pixels.header.attrs, pixels.header.wavelength
    ny, nx = pixels.shape
    flat = pixels.rrs  # (n_pixels, n_wl)
    lat, lon = pixels.lat.reshape(ny, nx), pixels.lon.reshape(ny, nx)
    resample_to_grid(flat[:0], wl, dep.grid_nm, what=f"chip {chip}")  # coverage check first
    pred = np.full(ny * nx, np.nan)
    for start in range(0, ny * nx, chunk_pixels):
        part = slice(start, start + chunk_pixels)
        grid = resample_to_grid(flat[part], wl, dep.grid_nm, what=f"chip {chip}")
        pred[part] = _predict_grid(dep, grid, min_valid_fraction)
    cols = _interval_columns(dep, pred)
    long_names = {
        "microcystin_ugL": "particulate microcystin, model estimate",
        "microcystin_lo_ugL": f"lower bound of the {dep.interval_level:.0%} conformal interval",
        "microcystin_hi_ugL": f"upper bound of the {dep.interval_level:.0%} conformal interval",
    }
    data_vars = {
        name: (
            ("y", "x"),
            cols[name].reshape(ny, nx).astype(np.float32),
            {"units": "ug L-1", "long_name": long},
        )
        for name, long in long_names.items()
    }
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
        "n_predicted_pixels": int(np.isfinite(pred).sum()),
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
    write_netcdf(ds, out_nc)
    plot_microcystin_map(ds, out_png)
    return Path(out_nc)
