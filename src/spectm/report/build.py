"""Assemble the workflow's HTML report from the files the DAG produced.

Every section reads DAG outputs only (tables, JSON, PNG); nothing is recomputed here except small
summary tables and figures that are themselves derived from those files.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from spectm import __version__
from spectm.report.figures import samples_per_year_figure
from spectm.report.html import Section, render_report

PathLike = str | os.PathLike[str]


def provenance_line(config: Mapping[str, Any]) -> str:
    """The report's first line: which inputs are real and which were generated."""
    samples = (
        "NOAA GLERL samples: REAL (bundled NCEI / GLERL datashare CSVs)"
        if config["samples"]["source"] == "bundled"
        else "NOAA GLERL samples: REAL (downloaded from NCEI / GLERL)"
    )
    if config["pace"]["source"] == "demo":
        pace = (
            "PACE OCI granules: GENERATED replay granules in the real L2 AOP format; only the "
            "station pixels carry real PACE spectra (190 real spectra, 45 granules), everything "
            "else (blends, noise, land from the real shoreline, clouds) is synthetic"
        )
    else:
        pace = "PACE OCI granules: REAL (NASA Earthdata, " + config["pace"]["short_name"] + ")"
    return f"Inputs — {samples}. {pace}."


def samples_section(samples_path: PathLike, fig_dir: Path) -> Section:
    """Samples per year and site, depth categories, position QC."""
    s = pd.read_parquet(samples_path)
    sec = Section("GLERL samples", "samples")
    years = pd.to_datetime(s["time_utc"], utc=True).dt.year
    n_flag = int(s["position_flag"].sum()) if "position_flag" in s else 0
    sec.text(
        f"{len(s)} samples from {s['source_file'].nunique()} files, "
        f"{years.min()}–{years.max()}; {n_flag} positions flagged as more than the configured "
        "distance from their station's median position."
    )
    fig = samples_per_year_figure(s, fig_dir / "samples_per_year.png")
    sec.figure(fig, caption="Samples per year by depth category (satellites see the surface).")
    table = pd.crosstab(s["site"], years).reset_index()
    table.columns = [str(c) for c in table.columns]
    sec.table(table, caption="Samples per site (rows) and year (columns).", float_format="{:.0f}")
    return sec


def granules_section(
    manifest_path: PathLike,
    chip_paths: Sequence[PathLike],
    flag_paths: Sequence[PathLike],
    quicklooks: Sequence[PathLike],
) -> Section:
    """Granule manifest, chip sizes and valid fractions, flag statistics, quicklooks."""
    import xarray as xr

    sec = Section("PACE granules and chips", "granules")
    manifest = pd.read_csv(manifest_path)
    rows = []
    for chip in chip_paths:
        with xr.open_dataset(chip, engine="h5netcdf") as ds:
            valid = ds["Rrs"].notnull().any("wavelength")
            rows.append(
                {
                    "granule": ds.attrs.get("granule", Path(chip).name),
                    "time (UTC)": ds.attrs.get("time_coverage_start", ""),
                    "version": ds.attrs.get("processing_version", ""),
                    "chip (y×x×λ)": "×".join(str(n) for n in ds["Rrs"].shape),
                    "valid pixels": int(valid.sum()),
                    "valid fraction": float(valid.mean()),
                }
            )
    chips = pd.DataFrame(rows)
    sec.text(
        f"{len(manifest)} granules in the manifest, {len(chips)} chips over the area of interest. "
        "Invalid = flagged by the configured l2_flags or fill (land)."
    )
    sec.table(chips, caption="Chips: shape and valid water pixels.")
    stats = [json.loads(Path(p).read_text()) for p in flag_paths]
    flag_table = flag_statistics_table(stats)
    if not flag_table.empty:
        sec.table(
            flag_table,
            caption="l2_flags over all chips: pixels with each flag set, and whether it excludes.",
        )
    grid = Section("", "")
    for png in quicklooks:
        grid.figure(png, caption=Path(png).stem.split(".")[1])
    sec.raw("<h3>True-colour quicklooks</h3><div class='grid'>" + "".join(grid.parts) + "</div>")
    return sec


def flag_statistics_table(stats: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Sum per-chip flag counts (JSON sidecars of the chip rule) into one table."""
    if not stats:
        return pd.DataFrame()
    total = sum(int(s["n_pixels_aoi"]) for s in stats)
    counts: dict[str, int] = {}
    excluded: dict[str, bool] = {}
    for s in stats:
        for name, info in s["flags"].items():
            counts[name] = counts.get(name, 0) + int(info["count"])
            excluded[name] = bool(info["excluded"])
    df = pd.DataFrame(
        {
            "flag": list(counts),
            "pixels": list(counts.values()),
            "fraction": [c / total for c in counts.values()],
            "excludes": [excluded[k] for k in counts],
        }
    )
    return df[df["pixels"] > 0].sort_values("pixels", ascending=False)


def build_report(
    out_html: PathLike,
    *,
    config: Mapping[str, Any],
    samples: PathLike,
    manifest: PathLike,
    chips: Sequence[PathLike],
    flag_stats: Sequence[PathLike],
    quicklooks: Sequence[PathLike],
) -> Path:
    """Write ``results/report/index.html`` from the DAG's outputs."""
    out = Path(out_html)
    fig_dir = out.parent / "figures"
    sections = [
        samples_section(samples, fig_dir),
        granules_section(manifest, chips, flag_stats, quicklooks),
    ]
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return render_report(
        out,
        title="spectm report — PACE OCI × NOAA GLERL, western Lake Erie",
        provenance=provenance_line(config),
        sections=sections,
        generated_by=f"spectm {__version__}, {stamp}",
    )
