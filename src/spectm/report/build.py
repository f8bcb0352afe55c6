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

import numpy as np
import pandas as pd

from spectm import __version__
from spectm.report.figures import samples_per_year_figure
from spectm.report.html import Section, render_report

PathLike = str | os.PathLike[str]


SETTINGS_KEYS = (
    "samples_source",
    "pace_source",
    "pace_short_name",
    "matchup",
    "resample",
    "evaluation",
    "pretrain_seeds",
    "finetune_fractions",
    "baseline_algorithms",
    "enmap_source",
)
"""The settings the report states (the report rule passes exactly these, not the whole config):
the two data sources and the PACE collection, the ``matchup``, ``resample`` and ``evaluation``
sections, the pretraining seeds, the fine-tuning label fractions and the baseline algorithms."""


def check_settings(settings: Mapping[str, Any]) -> None:
    """Refuse report settings without one of :data:`SETTINGS_KEYS`.

    Raises:
        ValueError: naming the missing keys.

    """
    missing = [k for k in SETTINGS_KEYS if k not in settings]
    if missing:
        raise ValueError(f"report settings lack {missing}")


def provenance_line(settings: Mapping[str, Any]) -> str:
    """The report's first line: which inputs are real and which were generated."""
    samples = (
        "NOAA GLERL samples: REAL (bundled NCEI / GLERL datashare CSVs)"
        if settings["samples_source"] == "bundled"
        else "NOAA GLERL samples: REAL (downloaded from NCEI / GLERL)"
    )
    if settings["pace_source"] == "demo":
        pace = (
            "PACE OCI granules: GENERATED replay granules in the real L2 AOP format; only the "
            "station pixels carry real PACE spectra (182 real spectra, 44 overpasses), everything "
            "else (blends, noise, land from the real shoreline, clouds) is synthetic"
        )
    else:
        pace = "PACE OCI granules: REAL (NASA Earthdata, " + settings["pace_short_name"] + ")"
    if settings["enmap_source"] == "off":
        enmap = "EnMAP: not run (enmap.enabled is false)"
    elif settings["enmap_source"] == "demo":
        enmap = (
            "EnMAP L2A products: GENERATED in the real L2A structure; their land-cover classes "
            "carry real earthlib library spectra, the class maps, labels, clouds and noise are "
            "synthetic"
        )
    else:
        enmap = f"EnMAP L2A products: REAL ({settings['enmap_source']})"
    return f"Inputs — {samples}. {pace}. {enmap}."


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
    from spectm.io.chips import load_chip_pixels

    sec = Section("PACE granules and chips", "granules")
    manifest = pd.read_csv(manifest_path)
    rows = []
    for chip in chip_paths:
        px = load_chip_pixels(chip)
        valid = np.isfinite(px.rrs).any(axis=1)  # (n_pixels,) any band measured
        rows.append(
            {
                "granule": px.header.granule,
                "time (UTC)": px.header.attrs.get("time_coverage_start", ""),
                "version": px.header.processing_version,
                "chip (y×x×λ)": "×".join(str(n) for n in (*px.shape, px.header.wavelength.size)),
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
    settings: Mapping[str, Any],
) -> Section:
    """Station map, exclusion reasons, |dt|/distance histograms, S2 resampling, coverage."""
    from spectm.report import matchup_figures as mf

    samples = pd.read_parquet(samples_path)
    matchups = pd.read_parquet(matchups_path)
    excl = pd.read_parquet(exclusions_path)
    m = settings["matchup"]
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
        r = settings["resample"]
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


def losses_figure(loss_paths: Mapping[str, PathLike], path: Path) -> Path:
    """Pretraining loss curves (train per step, validation per epoch) per masking strategy."""
    import matplotlib.pyplot as plt

    from spectm.report.figures import save_figure

    fig, ax = plt.subplots(figsize=(7, 3.4))
    for i, (strategy, lp) in enumerate(sorted(loss_paths.items())):
        df = pd.read_csv(lp)
        tr, va = df[df["split"] == "train"], df[df["split"] == "val"]
        colour = f"C{i}"
        ax.plot(tr["step"], tr["total"], color=colour, alpha=0.5, lw=0.8, label=f"{strategy} train")
        ax.plot(va["step"], va["total"], "o-", color=colour, label=f"{strategy} val")
    ax.set_xlabel("step")
    ax.set_ylabel("λ1·rec + λ2·idx + λ3·temp")
    ax.set_yscale("log")
    ax.legend(fontsize=7, ncols=2)
    ax.set_title("Pretraining losses")
    return save_figure(fig, path)


def _first_seed(models: Sequence[PathLike]) -> int:
    """The smallest pretraining seed among ``results/models/pretrain/<strategy>/seed<k>/``."""
    return min(int(Path(m).parent.name.removeprefix("seed")) for m in models)


def pretraining_section(
    models: Sequence[PathLike],
    losses: Sequence[PathLike],
    recon_tables: Sequence[PathLike],
    recon_figures: Sequence[PathLike],
    fig_dir: Path,
) -> Section:
    """Model size, corpus, loss curves, masked-band reconstruction vs spline."""
    from spectm.model.pretrained import read_model_meta  # torch only for this section

    sec = Section("SpecTM pretraining", "pretraining")
    rows = []
    for m in models:
        meta = read_model_meta(m)
        run = meta.summary
        if run is None:
            raise ValueError(f"{m}: a pretrained model without its run summary")
        rows.append(
            {
                "strategy": meta.mask_strategy,
                "seed": meta.pretrain_config["seed"],
                "preset": meta.pretrain_config["preset"],
                "parameters": run.n_parameters,
                "grid": f"{meta.grid} ({len(meta.wavelengths_nm)} bands)",
                "epochs": run.epochs_run,
                "steps": run.final_step,
                "best val loss": run.best_val,
                "SSL index targets": ", ".join(meta.index_names),
            }
        )
    sec.table(
        pd.DataFrame(rows),
        caption="Pretrained models (one per masking strategy and pretraining seed).",
    )
    runs = [f"{Path(m).parent.parent.name} {Path(m).parent.name}" for m in models]
    sec.figure(
        losses_figure(dict(zip(runs, losses, strict=True)), fig_dir / "losses.png"),
        caption="Pretraining losses per masking strategy and seed.",
    )
    recon = pd.concat(
        [
            pd.read_csv(t).assign(run=Path(t).stem.removeprefix("reconstruction_"))
            for t in recon_tables
        ],
        ignore_index=True,
    )
    sec.text(
        "Reconstruction of the diagnostic windows on held-out overpass dates, SpecTM vs a cubic "
        "spline through the visible bands (the paper reports r = 0.999 vs 0.96 on its data). "
        "The 695–720 nm window reaches the end of the grid (717.5 nm), so the spline extrapolates "
        "there; inside the interior windows it is a strong baseline."
    )
    sec.table(recon, caption="Masked-band reconstruction per run: Pearson r and RMSE (sr-1).")
    for f in [f for f in recon_figures if Path(f).stem.endswith(f"seed{_first_seed(models)}")]:
        sec.figure(f, caption=Path(f).stem.replace("_", " "), width=900)
    return sec


def evaluation_section(i: Mapping[str, Any], settings: Mapping[str, Any]) -> Section:
    """Fine-tuning vs baselines, ablation, label efficiency, intervals, configurations."""
    import json

    sec = Section("Microcystin: SpecTM vs baselines", "evaluation")
    ev = settings["evaluation"]
    n_configs = sum(
        int(json.loads(Path(p).read_text()).get("n_configurations", 0)) for p in i["baseline_info"]
    )
    sec.text(
        f"log10 microcystin (µg/L), {ev['n_splits']} outer folds grouped by sampling date, seeds "
        f"{list(ev['seeds'])}, label fractions {list(settings['finetune_fractions'])}. Baselines: "
        f"{len(settings['baseline_algorithms'])} sklearn algorithms × feature sets × "
        f"{ev['grid']} hyper-parameter grids with inner date-grouped CV: "
        f"{n_configs} configurations over all dataset × horizon grids. The paper's numbers are "
        "from a different data set and protocol (147 matchups, its own splits): shown for "
        "orientation only."
    )
    sec.text(
        f"Each masking strategy is pretrained with seeds {list(settings['pretrain_seeds'])}; "
        "SpecTM values are means ± sd over pretraining seed × split seed (n replicates), the "
        "baselines' over split seeds. Every statement below is generated from a paired "
        "bootstrap over sampling dates and pretraining runs on the same outer test rows (95 % "
        "interval of the difference in mean R² under date-grouped CV, in mean RMSE (log10) "
        "under next season, whose test season can have labels that barely vary, where R² is "
        "undefined): 'not distinguishable' where the interval covers zero, no verdict where the "
        "test rows come from fewer than 5 sampling dates. All predictions are clipped "
        "to the training labels' range. The best baseline is chosen by its own mean at each "
        "label fraction (an optimistic choice for the baselines)."
    )
    comps = pd.read_csv(i["comparisons"])
    if comps.empty:
        sec.text("No paired comparison could be made (a method is missing).")
    for what, g in comps.groupby("what", sort=False):
        sec.text(f"{what}:")
        sec.bullets(g["sentence"].tolist())
    sec.table(
        comps[
            ["dataset", "horizon", "protocol", "fraction", "what", "metric", "a", "b",
             "a_mean", "a_sd", "b_mean", "b_sd", "diff", "lo", "hi", "n_dates", "verdict"]
        ],
        caption="Paired comparisons (results/metrics/comparisons.csv).",
    )  # fmt: skip
    sec.table(
        pd.read_csv(i["comparison"]),
        caption="SpecTM (targeted, frozen) vs the best baseline at 100 % labels.",
    )
    abl = pd.read_csv(i["ablation"])
    full = abl[abl["fraction"] == 1.0]
    pivot = full.pivot_table(
        index=["dataset", "horizon", "mode"], columns="strategy", values="mean"
    ).reset_index()
    pivot.columns = [str(c) for c in pivot.columns]
    sec.table(
        pivot,
        caption="Masking ablation at equal pretraining budget: mean R² (log10) at "
        "100 % labels (paper: targeted beats random by +0.037).",
    )
    sec.table(pd.read_csv(i["efficiency"]), caption="Label efficiency at 5 % labels (paper: 2.2×).")
    sec.figure(i["efficiency_figure"], caption="Label-efficiency curves.", width=1100)
    sec.figure(i["scatter_figure"], caption="Predicted vs observed at 100 % labels.", width=1100)
    sec.table(
        pd.read_csv(i["intervals"]),
        caption="Prediction intervals: empirical coverage on the outer test folds.",
    )
    sec.text(
        "The full per-cell table (every method × horizon × feature set × fraction × seed × "
        "|dt| stratum, log10 and linear metrics) is results/metrics/summary.csv."
    )
    return sec


PAPER_ADAPT = pd.DataFrame(
    {
        "method": ["naive", "srf", "full_hsi"],
        "EnMAP-BNETD mIoU": [0.465, 0.461, 0.495],
        "EnMAP-CDL mIoU": [0.693, 0.679, 0.774],
        "EnMAP-BDForet mIoU": [0.657, 0.623, 0.766],
        "Hyperview score": [0.813, 0.831, 0.810],
    }
)
"""Leonardi et al. (2026), arXiv 2603.06690: TerraMind with naive / SRF projections and the
SpectralEarth full-HSI upper bound (different data sets from ours; shown for orientation)."""


COVERAGE_COLUMNS = (
    "band",
    "centre_nm",
    "coverage",
    "naive_source_nm",
    "srf_n_source_bands",
    "srf_source_min_nm",
    "srf_source_max_nm",
)
"""Columns of the coverage table shown in the report."""


def paired_comparisons(rows: pd.DataFrame, *, level: float = 0.95) -> pd.DataFrame:
    """Paired differences of the test metric between methods over the same seeds, per task.

    Args:
        rows: One row per task x method x seed (``task, method, seed, value``).
        level: Confidence level of the t interval of the mean difference.

    Returns:
        ``task, a, b, n, mean_diff, sd_diff, lo, hi, verdict`` for the pairs srf − naive,
        learned − srf and full_hsi − naive present in ``rows``; ``verdict`` is ``a beats b``,
        ``b beats a`` or ``not distinguishable`` (the interval covers 0, or fewer than 2 seeds).

    """
    from scipy import stats

    out = []
    pairs = [("srf", "naive"), ("learned", "srf"), ("full_hsi", "naive")]
    for task, g in rows.groupby("task", sort=False):
        wide = g.pivot_table(index="seed", columns="method", values="value")
        for a, b in pairs:
            if a not in wide or b not in wide:
                continue
            d = (wide[a] - wide[b]).dropna().to_numpy(dtype=float)
            n = d.size
            mean = float(d.mean()) if n else float("nan")
            sd = float(d.std(ddof=1)) if n >= 2 else float("nan")
            if n >= 2 and sd > 0:
                half = float(stats.t.ppf(0.5 + level / 2, n - 1)) * sd / np.sqrt(n)
            else:
                half = float("nan") if n < 2 else 0.0
            lo, hi = mean - half, mean + half
            if n >= 2 and np.isfinite(lo) and lo > 0:
                verdict = f"{a} beats {b}"
            elif n >= 2 and np.isfinite(hi) and hi < 0:
                verdict = f"{b} beats {a}"
            else:
                verdict = "not distinguishable"
            out.append(
                {"task": task, "a": a, "b": b, "n": n, "mean_diff": mean, "sd_diff": sd,
                 "lo": lo, "hi": hi, "verdict": verdict}
            )  # fmt: skip
    cols = ["task", "a", "b", "n", "mean_diff", "sd_diff", "lo", "hi", "verdict"]
    return pd.DataFrame(out, columns=cols)


def adaptation_section(
    summary_path: PathLike, table_path: PathLike, coverage_path: PathLike
) -> Section:
    """TerraMind channel adaptation: the paper-style table, paired comparisons, coverage."""
    sec = Section("EnMAP → TerraMind channel adaptation", "adaptation")
    rows = pd.read_csv(summary_path, keep_default_na=False, na_values=[""])
    table = pd.read_csv(table_path, keep_default_na=False, na_values=[""])
    weights = sorted(set(rows.loc[rows["method"] != "full_hsi", "weights"].astype(str)))
    backbone = ", ".join(sorted(set(rows.loc[rows["method"] != "full_hsi", "backbone"])))
    n_seeds = int(rows.groupby(["task", "method"])["seed"].nunique().min()) if len(rows) else 0
    sec.text(
        "EnMAP reflectance projected to Sentinel-2 L2A's 12 bands in TerraMind's order — naive "
        "(nearest band centre), srf (SRF-weighted), learned (a trainable 1×1 projection "
        f"started from the SRF weights) — then {backbone} fine-tuned for segmentation (FCN "
        "decoder, cross-entropy, mIoU) and per-chip regression (linear head, MSE, R²); full_hsi "
        "is a small spectral-spatial CNN of ours on every selected band (the upper bound). "
        f"{n_seeds} seeds per cell; whole scenes are split into train / validation / test."
    )
    if "random" in weights:
        sec.text(
            "TerraMind ran with RANDOM initial weights: no pretrained checkpoint was in the "
            "local cache or at adapt.weights_path (the hub is not reachable offline). These "
            "numbers test the pipeline end to end; they are NOT the paper's experiment, which "
            "fine-tunes pretrained TerraMind."
        )
    keep = ["task", "method", "weights", "metric", "n_seeds", "mean_sd"]
    sec.table(
        table[keep].rename(columns={"mean_sd": "mean ± sd (test scenes)"}),
        caption="Test metric per task × method, mean ± sd over seeds (results/adapt/table.csv; "
        "every run in results/adapt/summary.csv).",
    )
    comp = paired_comparisons(rows)
    if len(comp):
        lines = [
            f"{r.task}: {r.a} − {r.b} = {r.mean_diff:+.3f} (95 % t interval "
            f"{r.lo:+.3f} to {r.hi:+.3f}, {r.n} paired seeds): {r.verdict}."
            for r in comp.itertuples()
        ]
        sec.text(" ".join(lines))
    sec.table(
        PAPER_ADAPT,
        caption="The paper's numbers (Leonardi et al. 2026, SpectralEarth tasks and Hyperview): "
        "a different data set — for orientation only, not comparable with the table above.",
    )
    cov = pd.read_csv(coverage_path)
    cols = [c for c in COVERAGE_COLUMNS if c in cov.columns]
    sec.table(
        cov[cols],
        caption="EnMAP → Sentinel-2 L2A per band: fraction of the S2 response covered by EnMAP "
        "(all 12 bands, unlike PACE), the naive source band and the SRF's source bands (nm); "
        "every column in results/adapt/coverage.csv.",
        float_format="{:.4g}",
    )
    return sec


def maps_section(maps: Sequence[PathLike], *, limit: int = 8) -> Section:
    """A gallery of predicted-microcystin maps (the latest ``limit``)."""
    sec = Section("Predicted microcystin maps", "maps")
    sec.text(
        f"{len(maps)} maps (NetCDF + PNG in results/maps/) from the deployable current-week "
        f"model results/models/microcystin_current_week.pt; the latest {min(limit, len(maps))} "
        "are shown. Model estimates, not measurements."
    )
    grid = Section("", "")
    for png in sorted(map(str, maps))[-limit:]:
        grid.figure(png, caption=Path(png).stem.split(".")[1])
    sec.raw("<div class='grid'>" + "".join(grid.parts) + "</div>")
    return sec


def assumptions_section(assumptions_md: PathLike) -> Section:
    """The assumptions list (docs/assumptions.md) as HTML."""
    import html as _html

    sec = Section("Assumptions", "assumptions")
    out: list[str] = []
    in_list = False
    for line in Path(assumptions_md).read_text().splitlines():
        if line.startswith("## "):
            if in_list:
                out.append("</ul>")
                in_list = False
            out.append(f"<h3>{_html.escape(line[3:])}</h3>")
        elif line.startswith("- "):
            if not in_list:
                out.append("<ul class='note'>")
                in_list = True
            out.append(f"<li>{_html.escape(line[2:])}</li>")
    if in_list:
        out.append("</ul>")
    sec.raw("\n".join(out))
    return sec


def build_report(
    out_html: PathLike, *, settings: Mapping[str, Any], inputs: Mapping[str, Any]
) -> Path:
    """Write ``results/report/index.html`` from the DAG's outputs.

    Args:
        out_html: Report path; figures go to ``figures/`` beside it.
        settings: The settings the report states (:data:`SETTINGS_KEYS`).
        inputs: Named inputs of the report rule (paths or lists of paths).
    """
    check_settings(settings)
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
            settings=settings,
        ),
        pretraining_section(
            i["models"], i["losses"], i["recon_tables"], i["recon_figures"], fig_dir
        ),
        evaluation_section(i, settings),
    ]
    if i.get("maps"):
        sections.append(maps_section(i["maps"]))
    if i.get("adapt_summary"):
        sections.append(
            adaptation_section(i["adapt_summary"], i["adapt_table"], i["adapt_coverage"])
        )
    sections.append(assumptions_section(i["assumptions"]))
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    return render_report(
        out,
        title="spectm report — PACE OCI × NOAA GLERL, western Lake Erie",
        provenance=provenance_line(settings),
        sections=sections,
        generated_by=f"spectm {__version__}, {stamp}",
    )
