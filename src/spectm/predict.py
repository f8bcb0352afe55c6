"""Apply a deployable SpecTM microcystin model to new spectra and to chips.

A deployable model (written by :func:`spectm.train.finetune.train_deployable`) is one torch file
holding only tensors and plain Python values (it loads with ``weights_only=True``)::

    format            DEPLOYABLE_FORMAT
    model             SpecTM state_dict (encoder; pretraining heads kept, unused)
    meta              the pretrained model's meta: band grid, normalisation, config, ...
    head              {"weight": (d_model,) tensor, "bias": () tensor}: log10 ug/L from the
                      pooled embedding (standardiser + ridge, or the fine-tuned head, folded)
    halfwidth_log10   split-conformal half-width q (log10 units; inf = not calibratable)
    alpha             miscoverage; intervals are at level 1 - alpha
    info              mode, method, horizon, training-data summary, fit settings, provenance

A ``config.json`` beside it repeats everything except the tensors.

Prediction: spectra at any wavelengths are linearly resampled onto the model grid
(:func:`spectm.spectral.grids.grid_resampler`); NaN bands become mask tokens; every band is visible
otherwise (no masking at inference). The estimate is ``10**pred`` ug/L (the back-transformed log10
prediction, no bias correction) and the interval ``[10**(pred - q), 10**(pred + q)]``.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
import xarray as xr

from spectm._io import atomic_path, write_csv, write_json, write_netcdf
from spectm.model.encoder import SpecTM, SpecTMConfig
from spectm.spectral.grids import grid_resampler
from spectm.tables import find_rrs_columns
from spectm.train.checkpoint import embed
from spectm.train.device import resolve_device

DEPLOYABLE_FORMAT = "spectm-microcystin-v1"
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

MAX_SOURCE_GAP_NM = 30.0
"""Widest gap between input bands that may be bridged by linear interpolation (nm); PACE's
589-612 nm gap (25 nm) is bridged in training too (assumption)."""

PathLike = str | os.PathLike[str]


def resample_to_grid(
    spectra: np.ndarray,
    source_nm: np.ndarray,
    grid_nm: np.ndarray,
    *,
    what: str,
    max_gap_nm: float = MAX_SOURCE_GAP_NM,
) -> np.ndarray:
    """Linearly resample spectra onto the model grid, refusing grids the input does not cover.

    Args:
        spectra: Rrs (sr-1), shape (n, n_src); NaN propagates to the grid bands it touches.
        source_nm: Wavelengths of ``spectra`` (nm), increasing, shape (n_src,).
        grid_nm: Model grid (nm), shape (n_grid,).
        what: Name of the input for the error message (a file or table).
        max_gap_nm: Grid bands between two source bands further apart than this are not covered.

    Returns:
        Rrs (sr-1) on the grid, float64, shape (n, n_grid).

    Raises:
        ValueError: naming ``what`` and the uncovered wavelength range(s).

    """
    src = np.asarray(source_nm, dtype=float)
    grid = np.asarray(grid_nm, dtype=float)
    res = grid_resampler(src, grid)
    gaps = [
        (lo, hi)
        for lo, hi in itertools.pairwise(src)
        if hi - lo > max_gap_nm and ((grid > lo) & (grid < hi)).any()
    ]
    if res.outside.any() or gaps:
        out = grid[res.outside]
        below, above = out[out < src[0]], out[out > src[-1]]
        parts = [f"{g[0]:g}-{g[-1]:g} nm" for g in (below, above) if g.size]
        parts += [f"{lo:g}-{hi:g} nm (gap wider than {max_gap_nm:g} nm)" for lo, hi in gaps]
        raise ValueError(
            f"{what}: spectra at {src[0]:g}-{src[-1]:g} nm do not cover the model grid "
            f"{grid[0]:g}-{grid[-1]:g} nm; missing {', '.join(parts)}"
        )
    return res(spectra)


@dataclass(frozen=True)
class Deployable:
    """A loaded deployable model.

    Attributes:
        model: SpecTM encoder (eval mode).
        meta: The pretrained model's meta (``wavelengths_nm``, ``norm_mean``, ``norm_std``, ...).
        head_weight: Linear head on the pooled embedding, shape (d_model,).
        head_bias: Its intercept (log10 ug/L).
        halfwidth_log10: Conformal half-width q (log10 units); inf when not calibratable.
        alpha: Miscoverage of the interval.
        info: Mode, method, horizon, training-data summary, fit settings, provenance.
        path: The file it was loaded from.

    """

    model: SpecTM
    meta: dict[str, Any]
    head_weight: np.ndarray
    head_bias: float
    halfwidth_log10: float
    alpha: float
    info: dict[str, Any] = field(default_factory=dict)
    path: Path = Path()

    @property
    def grid_nm(self) -> np.ndarray:
        """Model band grid (nm), shape (n_grid,)."""
        return np.asarray(self.meta["wavelengths_nm"], dtype=float)

    @property
    def interval_level(self) -> float:
        """Nominal coverage of the interval, ``1 - alpha``."""
        return 1.0 - self.alpha

    def predict_log10(self, spectra: np.ndarray, *, batch_size: int = 1024) -> np.ndarray:
        """log10 microcystin (log10 ug/L) of spectra on the model grid.

        Args:
            spectra: Rrs (sr-1) on :attr:`grid_nm`, shape (n, n_grid); NaN bands are masked.
            batch_size: Spectra per forward pass.

        Returns:
            Predictions, shape (n,).

        """
        z = embed(self.model, self.meta, spectra, batch_size=batch_size)  # (n, d_model)
        return z.astype(float) @ self.head_weight + self.head_bias


def _plain(value: Any) -> Any:
    """Numpy scalars/arrays to Python values, recursively (for weights_only files and JSON)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _json_safe(value: Any) -> Any:
    """Non-finite floats to None (strict JSON)."""
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def save_deployable(
    path: PathLike,
    *,
    model_state: dict[str, torch.Tensor],
    meta: dict[str, Any],
    head_weight: np.ndarray,
    head_bias: float,
    halfwidth_log10: float,
    alpha: float,
    info: dict[str, Any],
) -> Path:
    """Write a deployable model atomically, and ``config.json`` (no tensors) beside it.

    Args:
        path: Output ``.pt`` file.
        model_state: SpecTM state_dict.
        meta: Pretrained meta (plain values).
        head_weight: Head weights, shape (d_model,).
        head_bias: Head intercept (log10 ug/L).
        halfwidth_log10: Conformal half-width (log10 units).
        alpha: Miscoverage.
        info: Mode, method, training summary, fit settings, provenance (plain values).

    Returns:
        ``path``.

    """
    blob = {
        "format": DEPLOYABLE_FORMAT,
        "model": {k: v.detach().cpu() for k, v in model_state.items()},
        "meta": _plain(meta),
        "head": {
            "weight": torch.as_tensor(np.asarray(head_weight, dtype=np.float64)),
            "bias": torch.tensor(float(head_bias), dtype=torch.float64),
        },
        "halfwidth_log10": float(halfwidth_log10),
        "alpha": float(alpha),
        "info": _plain(info),
    }
    with atomic_path(path) as tmp:
        torch.save(blob, tmp)
    summary = {k: v for k, v in blob.items() if k not in ("model", "head")}
    summary["head"] = {"d_model": int(np.asarray(head_weight).size), "bias": float(head_bias)}
    write_json(_json_safe(summary), Path(path).parent / "config.json")
    return Path(path)


def load_deployable(path: PathLike, *, device: str = "cpu") -> Deployable:
    """Load a deployable model written by :func:`save_deployable`.

    Args:
        path: The ``.pt`` file.
        device: ``auto``, ``cpu``, ``cuda`` or ``mps``.

    Raises:
        ValueError: naming the file if it is not a deployable SpecTM microcystin model.

    """
    blob = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(blob, dict) or blob.get("format") != DEPLOYABLE_FORMAT:
        found = blob.get("format") if isinstance(blob, dict) else type(blob).__name__
        pretrained = isinstance(blob, dict) and "meta" in blob
        hint = " (a pretrained model.pt? train one with train_deployable)" if pretrained else ""
        raise ValueError(
            f"{path} is not a deployable SpecTM microcystin model: format {found!r}, "
            f"expected {DEPLOYABLE_FORMAT!r}{hint}"
        )
    meta = dict(blob["meta"])
    model = SpecTM(SpecTMConfig.from_dict(meta["model_config"]))
    model.load_state_dict(blob["model"])
    model.to(resolve_device(device)).eval()
    return Deployable(
        model=model,
        meta=meta,
        head_weight=blob["head"]["weight"].numpy().astype(float),
        head_bias=float(blob["head"]["bias"]),
        halfwidth_log10=float(blob["halfwidth_log10"]),
        alpha=float(blob["alpha"]),
        info=dict(blob["info"]),
        path=Path(path),
    )


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
        model_path: Deployable model (:func:`spectm.train.finetune.train_deployable`).
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


def cli_predict(
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


def _read_chip(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """Rrs (y, x, wavelength) sr-1, wavelengths (nm), lat, lon (y, x) and attributes of a chip."""
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        if "Rrs" not in ds:
            raise ValueError(f"chip {path}: no 'Rrs' variable (variables: {list(ds.data_vars)})")
        if set(ds["Rrs"].dims) != {"y", "x", "wavelength"}:
            raise ValueError(f"chip {path}: Rrs dims {ds['Rrs'].dims}, expected (y, x, wavelength)")
        for name in ("lat", "lon"):
            if name not in ds.variables or set(ds[name].dims) != {"y", "x"}:
                raise ValueError(f"chip {path}: missing 2-D (y, x) coordinate '{name}'")
        for attr in ("granule", "time_coverage_start"):
            if attr not in ds.attrs:
                raise ValueError(f"chip {path}: missing global attribute '{attr}'")
        rrs = ds["Rrs"].transpose("y", "x", "wavelength").values.astype(np.float32)
        wl = np.asarray(ds["wavelength"].values, dtype=float)
        lat = ds["lat"].transpose("y", "x").values.astype(float)
        lon = ds["lon"].transpose("y", "x").values.astype(float)
        attrs = dict(ds.attrs)
    return rrs, wl, lat, lon, attrs


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
    rrs, wl, lat, lon, attrs = _read_chip(chip)
    ny, nx = lat.shape
    flat = rrs.reshape(ny * nx, wl.size)  # (n_pixels, n_wl)
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
        "model_grid": str(dep.meta.get("grid", "")),
        "mask_strategy": str(dep.meta.get("mask_strategy", "")),
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
