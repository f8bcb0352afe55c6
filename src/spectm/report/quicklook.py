"""True-colour quicklook of a chip, drawn on its swath lat/lon (Agg backend, atomic PNG)."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import xarray as xr
from matplotlib.patches import Patch
from numpy.typing import NDArray

from spectm._io import atomic_path

PathLike = str | os.PathLike[str]

#: Display wavelengths (nm) for red, green, blue.
RGB_NM: tuple[float, float, float] = (645.0, 555.0, 465.0)
_CLASS_COLOURS = {
    "land": (0.80, 0.72, 0.55),
    "cloud/ice": (1.00, 1.00, 1.00),
    "other flag/fill": (0.85, 0.15, 0.60),
}


def _band_index(wl: NDArray, nm: float, max_nm: float = 5.0) -> int:
    i = int(np.argmin(np.abs(wl - nm)))
    if abs(wl[i] - nm) > max_nm:
        raise ValueError(f"chip has no band within {max_nm} nm of {nm} nm")
    return i


def rgb_image(chip: xr.Dataset, *, upper_percentile: float = 99.0) -> NDArray:
    """RGB of a chip from Rrs near 645/555/465 nm with one robust stretch for all channels.

    One linear stretch for the three channels, from 0 sr-1 (negative Rrs shows black) to a robust
    upper percentile of all valid values, keeps hues (a per-channel stretch would not); a gamma
    of 0.6 lifts the dark water.

    Args:
        chip: A chip (``Rrs`` (y, x, wavelength), sr-1, NaN invalid).
        upper_percentile: Percentile of the valid RGB Rrs values mapped to full brightness.

    Returns:
        ``(y, x, 3)`` float in [0, 1], NaN where any channel is invalid.
    """
    rrs = chip["Rrs"].transpose("y", "x", "wavelength")
    wl = np.asarray(chip["wavelength"].values, dtype=float)
    rgb = np.stack([rrs.values[..., _band_index(wl, nm)] for nm in RGB_NM], axis=-1).astype(float)
    valid = np.isfinite(rgb).all(axis=-1)
    hi = float(np.percentile(rgb[valid], upper_percentile)) if valid.any() else 1.0
    out = np.clip(rgb / max(hi, 1e-12), 0.0, 1.0) ** 0.6
    out[~valid] = np.nan
    return out


def _invalid_classes(chip: xr.Dataset, valid: NDArray[np.bool_]) -> dict[str, NDArray[np.bool_]]:
    """Masks of invalid pixels by reason: cloud/ice (drawn over land), land, anything else."""
    shape = valid.shape
    land = np.zeros(shape, bool)
    cloud = np.zeros(shape, bool)
    if "l2_flags" in chip and "flag_meanings" in chip["l2_flags"].attrs:
        flags = np.asarray(chip["l2_flags"].values).astype(np.int64) & 0xFFFFFFFF
        meanings = str(chip["l2_flags"].attrs["flag_meanings"]).split()
        masks = np.asarray(chip["l2_flags"].attrs["flag_masks"]).astype(np.int64) & 0xFFFFFFFF
        bit = dict(zip(meanings, masks, strict=True))
        cloud = (flags & int(bit.get("CLDICE", 0))) != 0
        land = ((flags & int(bit.get("LAND", 0))) != 0) & ~cloud
    land &= ~valid
    cloud &= ~valid
    return {"land": land, "cloud/ice": cloud, "other flag/fill": ~valid & ~land & ~cloud}


def true_colour_png(
    chip: xr.Dataset,
    out_png: PathLike,
    *,
    title: str | None = None,
    stations: pd.DataFrame | None = None,
) -> Path:
    """Write a true-colour PNG of a chip on its lat/lon, invalid pixels coloured by reason.

    Args:
        chip: A chip (``Rrs``, ``wavelength``, 2-D ``lat``/``lon``, ``l2_flags``).
        out_png: Output PNG (written atomically).
        title: Figure title (default: the chip's ``granule`` attribute).
        stations: Optional table with ``lat``/``lon`` (deg) and optionally ``station`` names,
            drawn as markers.

    Returns:
        The PNG path.
    """
    rgb = rgb_image(chip)
    valid = np.isfinite(rgb).all(axis=-1)
    image = np.zeros((*valid.shape, 4))
    image[valid, :3] = rgb[valid]
    image[valid, 3] = 1.0
    for name, mask in _invalid_classes(chip, valid).items():
        image[mask, :3] = _CLASS_COLOURS[name]
        image[mask, 3] = 1.0
    lat = np.asarray(chip["lat"].transpose("y", "x").values, dtype=float)
    lon = np.asarray(chip["lon"].transpose("y", "x").values, dtype=float)

    fig, ax = plt.subplots(figsize=(7.0, 7.0), dpi=110)
    ax.pcolormesh(lon, lat, image, shading="nearest", rasterized=True)
    ax.set_facecolor((0.92, 0.92, 0.92))
    if "bbox" in chip.attrs:
        x0, y0, x1, y1 = (float(v) for v in np.asarray(chip.attrs["bbox"]).ravel())
        ax.plot([x0, x1, x1, x0, x0], [y0, y0, y1, y1, y0], color="0.2", lw=0.8, ls="--")
    if stations is not None and len(stations):
        ax.plot(stations["lon"], stations["lat"], "o", mfc="none", mec="k", ms=7, mew=1.2)
        if "station" in stations:
            for _, s in stations.iterrows():
                ax.annotate(str(s["station"]), (s["lon"], s["lat"]), xytext=(4, 4),
                            textcoords="offset points", fontsize=7)  # fmt: skip
    ax.set_xlim(np.nanmin(lon), np.nanmax(lon))
    ax.set_ylim(np.nanmin(lat), np.nanmax(lat))
    ax.set_aspect(1.0 / np.cos(np.radians(np.nanmean(lat))))
    ax.set_xlabel("longitude (deg E)")
    ax.set_ylabel("latitude (deg N)")
    ax.set_title(title if title is not None else str(chip.attrs.get("granule", "chip")), fontsize=9)
    handles = [Patch(facecolor=c, edgecolor="0.3", label=n) for n, c in _CLASS_COLOURS.items()]
    ax.legend(handles=handles, loc="lower right", fontsize=7, framealpha=0.9)
    if "spectm_demo" in chip.attrs:
        fig.text(
            0.01, 0.005, "generated replay granule (real spectra at stations only)", fontsize=7
        )
    fig.tight_layout()
    out = Path(out_png)
    try:
        with atomic_path(out) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)
    return out
