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
    site = s["site"].astype(str)
    group = site.where(site.str.match(r"^WE\d+$"), "other (transects, event/scum stations)")
    table = pd.crosstab(group, years).reset_index()
    table.columns = [str(c) for c in table.columns]
    sec.table(
        table,
        caption="Samples per site (rows) and year (columns). 2023 is missing from every public "
        "source (see docs/data.md).",
        float_format="{:.0f}",
    )
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


def matchup_section(
    samples_path: PathLike,
    matchups_path: PathLike,
    exclusions_path: PathLike,
    naive_path: PathLike,
    srf_path: PathLike,
    coverage_paths: Sequence[PathLike],
    index_bands_path: PathLike,
    fig_dir: Path,
    *,
    config: Mapping[str, Any],
) -> Section:
    """Station map, exclusion reasons, |dt|/distance histograms, S2 resampling, coverage."""
    from spectm.report import matchup_figures as mf

    samples = pd.read_parquet(samples_path)
    matchups = pd.read_parquet(matchups_path)
    excl = pd.read_parquet(exclusions_path)
    m = config["matchup"]
    sec = Section("Matchups and Sentinel-2 resampling", "matchups")
    sec.text(
        f"Every {', '.join(m['depth_categories'])} sample was matched to the granules within "
        f"±{m['window_days']:g} days and the valid pixels within {m['radius_km']:g} km "
        "(geodesic, WGS84); the matched spectrum is the per-band MEDIAN of the valid pixels. "
        f"Filters: valid fraction ≥ {m['min_valid_frac']:g}, CV(400–570 nm) ≤ {m['max_cv']:g}. "
        "One sample seen by several overpasses keeps the smallest |dt|, then the smallest "
        f"distance. {len(matchups)} of {len(excl)} samples matched."
    )
    reasons = excl["reason"].value_counts().rename_axis("reason").reset_index(name="samples")
    sec.table(
        reasons, caption="Every sample, by match status or exclusion reason.", float_format="{:.0f}"
    )
    sec.figure(
        mf.exclusion_figure(excl, fig_dir / "exclusions.png"),
        caption="Exclusion reasons (first applicable in a fixed order; see docs).",
    )
    sec.figure(
        mf.station_map(samples, excl, fig_dir / "station_map.png"),
        caption="Stations with their number of matchups.",
    )
    if len(matchups):
        sec.figure(
            mf.dt_distance_figure(matchups, fig_dir / "dt_distance.png"),
            caption="Time difference and distance of the matchups.",
        )
        naive, srf = pd.read_csv(naive_path), pd.read_csv(srf_path)
        r = config["resample"]
        sec.figure(
            mf.resampled_spectra_figure(
                matchups,
                naive,
                srf,
                fig_dir / "resampled_spectra.png",
                target=r["target"],
                version=r["srf_version"],
            ),
            caption="Matched PACE spectra and their Sentinel-2 bands: naive (nearest centre) "
            "and SRF-weighted. B06–B12 lie beyond PACE's 719 nm and are missing, never filled.",
        )
    cov = pd.concat([pd.read_csv(p) for p in coverage_paths], ignore_index=True)
    keep = [
        c
        for c in (
            "method",
            "band",
            "centre_nm",
            "coverage",
            "valid",
            "n_source_bands",
            "main_source_nm",
        )
        if c in cov.columns
    ]
    sec.table(cov[keep], caption="Per-band coverage of the Sentinel-2 SRF by PACE OCI Rrs.")
    sec.table(
        pd.read_csv(index_bands_path),
        caption="Bio-optical indices: the PACE band used for each wanted wavelength.",
    )
    return sec


def build_report(
    out_html: PathLike, *, config: Mapping[str, Any], inputs: Mapping[str, Any]
) -> Path:
    """Write ``results/report/index.html`` from the DAG's outputs.

    Args:
        out_html: Report path; figures go to ``figures/`` beside it.
        config: The validated workflow config.
        inputs: Named inputs of the report rule (paths or lists of paths).
    """
    out = Path(out_html)
    fig_dir = out.parent / "figures"
    i = inputs
    sections = [
        samples_section(i["samples"], fig_dir),
        granules_section(i["manifest"], i["chips"], i["flag_stats"], i["quicklooks"]),
        matchup_section(
            i["samples"],
            i["matchups"],
            i["exclusions"],
            i["resample_naive"],
            i["resample_srf"],
            i["coverage"],
            i["index_bands"],
            fig_dir,
            config=config,
        ),
    ]
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return render_report(
        out,
        title="spectm report — PACE OCI × NOAA GLERL, western Lake Erie",
        provenance=provenance_line(config),
        sections=sections,
        generated_by=f"spectm {__version__}, {stamp}",
    )
