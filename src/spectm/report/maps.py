"""Per-chip microcystin map: a PNG with a log colour scale in ug/L (matplotlib, Agg backend)."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.colors import LogNorm

from spectm.report.figures import save_figure

DEFAULT_RANGE_UGL = (0.05, 50.0)
"""Fixed colour range (ug/L) so maps of different dates compare; values outside are clipped to
the end colours (assumption: spans the GLERL surface range above typical detection limits)."""


def plot_microcystin_map(
    ds: xr.Dataset,
    out_png: str | os.PathLike[str],
    *,
    vmin: float = DEFAULT_RANGE_UGL[0],
    vmax: float = DEFAULT_RANGE_UGL[1],
) -> Path:
    """Map ``microcystin_ugL`` (y, x) over 2-D ``lat``/``lon`` and save it atomically as PNG.

    Args:
        ds: Output of :func:`spectm.predict.predict_chip`: ``microcystin_ugL`` (y, x) ug/L (NaN =
            no estimate), coordinates ``lat``/``lon`` (y, x) in degrees, attributes
            ``time_coverage_start``, ``granule``, ``data_kind`` (``demo``/``real``),
            ``model_method``, ``interval_level``, ``conformal_halfwidth_log10``.
        out_png: Output file.
        vmin: Lower end of the log colour scale (ug/L).
        vmax: Upper end of the log colour scale (ug/L).

    Returns:
        ``out_png``.

    Raises:
        ValueError: if ``microcystin_ugL``, ``lat`` or ``lon`` is missing, or the range is bad.

    """
    for name in ("microcystin_ugL", "lat", "lon"):
        if name not in ds.variables:
            raise ValueError(f"microcystin map: dataset lacks '{name}'")
    if not 0 < vmin < vmax:
        raise ValueError(f"microcystin map: need 0 < vmin < vmax, got {vmin}, {vmax}")
    mc = np.asarray(ds["microcystin_ugL"].transpose("y", "x").values, dtype=float)
    lat = np.asarray(ds["lat"].transpose("y", "x").values, dtype=float)
    lon = np.asarray(ds["lon"].transpose("y", "x").values, dtype=float)
    attrs = ds.attrs
    when = str(attrs.get("time_coverage_start", ""))
    date = pd.Timestamp(when).strftime("%Y-%m-%d %H:%M UTC") if when else "unknown date"

    fig, ax = plt.subplots(figsize=(7.0, 6.6))
    ax.set_facecolor((0.85, 0.85, 0.85))  # grey = no estimate (land, cloud, flagged)
    shown = np.where(np.isfinite(mc), np.clip(mc, vmin, vmax), np.nan)
    mesh = ax.pcolormesh(
        lon, lat, shown, norm=LogNorm(vmin=vmin, vmax=vmax), cmap="viridis", shading="nearest"
    )
    cbar = fig.colorbar(mesh, ax=ax, shrink=0.85, extend="both")
    cbar.set_label("particulate microcystin (ug/L, log scale)")
    ax.set_xlim(np.nanmin(lon), np.nanmax(lon))
    ax.set_ylim(np.nanmin(lat), np.nanmax(lat))
    ax.set_aspect(1.0 / np.cos(np.radians(np.nanmean(lat))))
    ax.set_xlabel("longitude (deg E)")
    ax.set_ylabel("latitude (deg N)")
    ax.set_title(f"Microcystin estimate, {date}\n{attrs.get('granule', '')}", fontsize=9)
    n_ok = int(np.isfinite(mc).sum())
    level = float(attrs.get("interval_level", np.nan))
    q = float(attrs.get("conformal_halfwidth_log10", np.nan))
    note = (
        f"Model estimate ({attrs.get('model_method', 'SpecTM')}), not a measurement; "
        f"{n_ok} pixels. {level:.0%} interval: estimate x/÷ {10**q:.3g}."
    )
    if attrs.get("data_kind") == "demo":
        note += "\nDEMO input: generated replay granule (real PACE spectra only at GLERL stations)."
    fig.text(0.01, 0.005, note, fontsize=7, va="bottom")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return save_figure(fig, out_png)
