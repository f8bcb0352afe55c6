"""Per-chip microcystin maps: a PNG and a Cloud-Optimized GeoTIFF.

The PNG has a log colour scale in ug/L (matplotlib, Agg backend); the GeoTIFF is on a regular
EPSG:4326 grid that GIS software (QGIS, GDAL) opens.
"""

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

from spectm._io import write_cog
from spectm.geo import swath_to_regular_grid
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
            ``model_method``, ``interval_level``, ``conformal_halfwidth_log10``; optional
            ``ood_flag`` (y, x) (pixels > 0 are marked with a red x) and ``n_ood_pixels``.
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
    if "ood_flag" in ds.variables:  # cross the pixels outside the model's training domain
        ood = np.asarray(ds["ood_flag"].transpose("y", "x").values, dtype=float)
        flagged = np.isfinite(ood) & (ood > 0)
        if flagged.any():
            ax.scatter(
                lon[flagged],
                lat[flagged],
                marker="x",
                s=4,
                c="red",
                alpha=0.7,
                linewidths=0.4,
                label="outside training domain",
            )
            ax.legend(loc="upper right", fontsize=7)
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
    if "n_ood_pixels" in attrs:
        note += (
            f"\n{int(attrs['n_ood_pixels'])} pixels (red x) outside the model's training domain: "
            "extrapolations."
        )
    if attrs.get("data_kind") == "demo":
        note += "\nDEMO input: generated replay granule (real PACE spectra only at GLERL stations)."
    fig.text(0.01, 0.005, note, fontsize=7, va="bottom")
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return save_figure(fig, out_png)


GEOTIFF_BANDS = ("microcystin_ugL", "microcystin_lo_ugL", "microcystin_hi_ugL", "ood_flag")
"""Variables of :func:`spectm.predict.predict_chip` written as GeoTIFF bands, in this order
(``ood_flag`` only when present)."""


def write_microcystin_geotiff(
    ds: xr.Dataset, out_tif: str | os.PathLike[str], *, max_dist_pixels: float = 1.0
) -> Path:
    """Write the map as a Cloud-Optimized GeoTIFF on a regular lat/lon grid, atomically.

    The swath (2-D ``lat``/``lon``) is regridded by nearest neighbour
    (:func:`spectm.geo.swath_to_regular_grid`): square cells of the chip's pixel size, each
    taking the value of the nearest pixel centre within ``max_dist_pixels`` pixels, nodata (NaN)
    elsewhere. Bands (float32, EPSG:4326, nodata NaN, each with a description):
    :data:`GEOTIFF_BANDS`; ``ood_flag`` holds the bits of :data:`spectm.predict.OOD_REASONS`
    (0 = inside the training domain). The dataset's provenance attributes become GeoTIFF tags.

    Args:
        ds: Output of :func:`spectm.predict.predict_chip` (variables on (y, x), ``lat``/``lon``).
        out_tif: Output ``.tif``.
        max_dist_pixels: Largest cell-to-pixel distance, in pixel sizes.

    Returns:
        ``out_tif``.

    Raises:
        ValueError: if ``lat``, ``lon`` or ``microcystin_ugL`` is missing, or the swath cannot
            be gridded.

    """
    for name in ("microcystin_ugL", "lat", "lon"):
        if name not in ds.variables:
            raise ValueError(f"microcystin GeoTIFF: dataset lacks '{name}'")
    lat = np.asarray(ds["lat"].transpose("y", "x").values, dtype=float)
    lon = np.asarray(ds["lon"].transpose("y", "x").values, dtype=float)
    grid = swath_to_regular_grid(lat, lon, max_dist_pixels=max_dist_pixels)
    inside = grid.index >= 0
    names = [n for n in GEOTIFF_BANDS if n in ds.variables]
    bands = np.full((len(names), *grid.index.shape), np.nan, dtype=np.float32)
    descriptions = []
    for b, name in enumerate(names):
        values = np.asarray(ds[name].transpose("y", "x").values, dtype=np.float32).ravel()
        bands[b][inside] = values[grid.index[inside]]
        var_attrs = ds[name].attrs
        unit = f" ({var_attrs['units']})" if "units" in var_attrs else ""
        descriptions.append(f"{name}: {var_attrs.get('long_name', name)}{unit}")
    keep = ("title", "granule", "time_coverage_start", "data_kind", "model_method", "model_mode")
    tags = {k: str(ds.attrs[k]) for k in keep if k in ds.attrs}
    tags.update(
        interval_level=str(ds.attrs.get("interval_level", "")),
        regridding=(
            f"nearest swath pixel centre within {max_dist_pixels:g} pixel(s) "
            f"({grid.step_lat:.5f} deg), NaN elsewhere"
        ),
    )
    da = xr.DataArray(
        bands,
        dims=("band", "y", "x"),
        coords={"band": np.arange(1, len(names) + 1), "y": grid.lat, "x": grid.lon},
        attrs={"long_name": tuple(descriptions), **tags},
    )
    import rioxarray  # noqa: F401  (registers the .rio accessor)
    from affine import Affine  # rasterio's dependency

    da = (
        da.rio.write_crs("EPSG:4326")
        .rio.write_transform(Affine(grid.step_lon, 0.0, grid.west, 0.0, -grid.step_lat, grid.north))
        .rio.write_nodata(np.nan)
    )
    return write_cog(da, out_tif)
