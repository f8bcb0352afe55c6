"""Report figures for the matchup and resampling stage."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import shapely

from spectm.geo import load_shoreline
from spectm.report.figures import save_figure
from spectm.spectral.srf import s2_band_parameters
from spectm.tables import spectra_matrix

PathLike = str | os.PathLike[str]


def _draw_shoreline(ax: plt.Axes) -> None:
    lake = load_shoreline()
    polys = lake.geoms if isinstance(lake, shapely.MultiPolygon) else [lake]
    for poly in polys:
        for ring in [poly.exterior, *poly.interiors]:
            x, y = ring.xy
            ax.plot(x, y, color="0.45", lw=0.6)


def station_map(samples: pd.DataFrame, exclusions: pd.DataFrame, path: PathLike) -> Path:
    """Map of sampling stations sized by samples and coloured by matched fraction."""
    s = samples.merge(exclusions[["sample_id", "status"]], on="sample_id", how="left")
    s = s[s["site"].astype(str).str.match(r"^WE\d+$")]
    g = s.groupby("site").agg(
        lat=("station_lat", "first"),
        lon=("station_lon", "first"),
        n=("sample_id", "size"),
        matched=("status", lambda v: int((v == "matched").sum())),
    )
    fig, ax = plt.subplots(figsize=(6.5, 5))
    _draw_shoreline(ax)
    sc = ax.scatter(
        g["lon"],
        g["lat"],
        s=20 + g["n"] / 2,
        c=g["matched"],
        cmap="viridis",
        edgecolor="k",
        zorder=3,
    )
    for site, row in g.iterrows():
        ax.annotate(
            f"{site} ({int(row['matched'])})",
            (row["lon"], row["lat"]),
            fontsize=7,
            xytext=(4, 4),
            textcoords="offset points",
        )
    fig.colorbar(sc, ax=ax, label="matched samples")
    ax.set_xlabel("longitude (deg E)")
    ax.set_ylabel("latitude (deg N)")
    ax.set_title("GLERL stations: size = samples, colour = matchups")
    ax.set_aspect(1 / np.cos(np.deg2rad(41.7)))
    return save_figure(fig, path)


def exclusion_figure(exclusions: pd.DataFrame, path: PathLike) -> Path:
    """Horizontal bars: samples per match status / exclusion reason."""
    counts = exclusions["reason"].value_counts().sort_values()
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.barh(counts.index, counts.to_numpy(), color="#3a6ea5")
    for i, v in enumerate(counts.to_numpy()):
        ax.text(float(v), i, f" {v}", va="center", fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("samples (log scale)")
    ax.set_title("Why each sample did or did not match")
    return save_figure(fig, path)


def dt_distance_figure(matchups: pd.DataFrame, path: PathLike) -> Path:
    """Histograms of |dt| (hours) and distance to the nearest valid pixel (km)."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3))
    axes[0].hist(np.abs(matchups["dt_hours"]), bins=np.arange(0, 97, 6), color="#3a6ea5")
    axes[0].set_xlabel("|dt| sample – overpass (hours)")
    axes[0].set_ylabel("matchups")
    axes[1].hist(matchups["dist_km"], bins=np.linspace(0, 2, 11), color="#d1495b")
    axes[1].set_xlabel("distance to nearest valid pixel (km)")
    fig.suptitle(f"{len(matchups)} matchups")
    return save_figure(fig, path)


def resampled_spectra_figure(
    matchups: pd.DataFrame,
    naive: pd.DataFrame,
    srf: pd.DataFrame,
    path: PathLike,
    *,
    target: str = "S2A",
    version: str = "4.0",
    n: int = 4,
) -> Path:
    """Original PACE spectra with their naive and SRF Sentinel-2 band values, for a few matches."""
    x, wl = spectra_matrix(matchups)
    bands = s2_band_parameters(target, version)
    centre = dict(zip(bands["band"], bands["centre_nm"], strict=True))
    cols = [b for b in bands["band"] if b in naive.columns and naive[b].notna().any()]
    rows = np.linspace(0, len(matchups) - 1, min(n, len(matchups))).astype(int)
    fig, axes = plt.subplots(1, len(rows), figsize=(3.6 * len(rows), 3), squeeze=False)
    for ax, i in zip(axes[0], rows, strict=True):
        ax.plot(wl, x[i], color="0.3", lw=1, label="PACE Rrs (172 bands)")
        cx = [centre[b] for b in cols]
        ax.plot(
            cx,
            naive.iloc[i][cols].to_numpy(float),
            "o",
            mfc="none",
            color="#d1495b",
            label="S2 naive",
        )
        ax.plot(cx, srf.iloc[i][cols].to_numpy(float), "x", color="#00798c", label="S2 SRF")
        ax.set_title(
            f"{matchups.iloc[i]['site']} {str(matchups.iloc[i]['time_utc'])[:10]}", fontsize=9
        )
        ax.set_xlabel("wavelength (nm)")
        ax.set_xlim(400, 720)
    axes[0][0].set_ylabel("Rrs (sr-1)")
    axes[0][0].legend(fontsize=7)
    return save_figure(fig, path)
