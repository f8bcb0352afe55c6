"""Figures for the HTML report (matplotlib, Agg backend), each written atomically as PNG."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.figure import Figure

from spectm._io import atomic_path


def save_figure(fig: Figure, path: str | os.PathLike[str], *, dpi: int = 110) -> Path:
    """Save ``fig`` as PNG atomically and close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return Path(path)


def samples_per_year_figure(samples: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Stacked bars of samples per year by depth category."""
    years = pd.to_datetime(samples["time_utc"], utc=True).dt.year
    counts = pd.crosstab(years, samples["depth_category"].fillna("unknown"))
    fig, ax = plt.subplots(figsize=(7, 3.2))
    counts.plot(kind="bar", stacked=True, ax=ax, width=0.8)
    ax.set_xlabel("year")
    ax.set_ylabel("samples")
    ax.set_title("NOAA GLERL samples per year and depth category")
    ax.legend(fontsize=8, ncols=2)
    return save_figure(fig, path)
