"""The metric report's headline tables and figures, from every prediction table.

Tables (CSV): ``summary`` (one row per protocol x method x horizon x feature set x fraction x
replicate x |dt| stratum), ``comparison`` (SpecTM vs the best baseline per dataset x horizon, with
the paper's numbers beside ours, labelled as a different data set), ``comparisons`` (every paired
comparison the report states, with its bootstrap interval, verdict and generated sentence:
SpecTM vs the best baseline at 100 % and at the smallest label fraction and in the next season;
targeted vs random and vs no masking), ``ablation`` (targeted vs random vs no masking at equal
budget), ``label_efficiency`` and ``intervals`` (empirical coverage per horizon).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from spectm._io import write_csv
from spectm.evaluate.compare import Comparison, MethodKey, comparisons_table, paired_difference
from spectm.evaluate.efficiency import label_efficiency_ratio
from spectm.evaluate.summary import best_by, seed_mean, summarise, with_protocol_columns
from spectm.report.figures import save_figure

log = logging.getLogger(__name__)
PathLike = str | os.PathLike[str]

SPECTM_METHOD = "spectm_targeted_frozen"
"""The SpecTM configuration compared with the baselines in the headline tables."""

PAPER_NUMBERS: dict[str, dict[str, float | str]] = {
    "current_week": {"spectm_r2": 0.695, "best_baseline": "Ridge", "best_baseline_r2": 0.51},
    "8day_ahead": {"spectm_r2": 0.620, "best_baseline": "–", "best_baseline_r2": float("nan")},
}
"""SpecTM paper (Imtiaz et al., arXiv 2603.22097): 147 PACE/GLERL matchups 2024-2025, its own
splits. A DIFFERENT data set and protocol: shown beside ours for orientation, never compared."""


ABLATION_PAIRS = (("targeted", "random"), ("targeted", "none"))
"""Masking strategies compared in the ablation (A vs B)."""


def read_predictions(paths: Sequence[PathLike]) -> pd.DataFrame:
    """Concatenate prediction tables (Parquet); ``protocol``/``pretrain_seed`` filled if absent."""
    frames = [with_protocol_columns(pd.read_parquet(p)) for p in paths]
    return pd.concat(frames, ignore_index=True)


def comparison_table(summary: pd.DataFrame, *, method: str = SPECTM_METHOD) -> pd.DataFrame:
    """SpecTM vs the best baseline per dataset x horizon at 100 % labels (seed means)."""
    means = seed_mean(summary)
    full = means[np.isclose(means["fraction"].astype(float), 1.0)]
    best = best_by(summary)
    rows = []
    for _, b in best.iterrows():
        sel = full[
            (full["dataset"] == b["dataset"])
            & (full["horizon"] == b["horizon"])
            & (full["method"] == method)
        ]
        paper = PAPER_NUMBERS.get(str(b["horizon"]), {})
        rows.append(
            {
                "dataset": b["dataset"],
                "horizon": b["horizon"],
                "spectm_method": method,
                "spectm_r2_log10": float(sel["mean"].iloc[0]) if len(sel) else np.nan,
                "spectm_r2_sd": float(sel["std"].iloc[0]) if len(sel) else np.nan,
                "best_baseline": f"{b['method']} ({b['feature_set']})",
                "best_baseline_r2_log10": float(b["mean"]),
                "best_baseline_r2_sd": float(b["std"]),
                "n_seeds": int(b["n_seeds"]),
                "paper_spectm_r2 (other data)": paper.get("spectm_r2", np.nan),
                "paper_best_baseline_r2 (other data)": paper.get("best_baseline_r2", np.nan),
            }
        )
    return pd.DataFrame(rows)


def ablation_table(summary: pd.DataFrame) -> pd.DataFrame:
    """Every SpecTM masking strategy x mode at every fraction (seed mean ± sd of R² log10)."""
    means = seed_mean(summary)
    s = means[means["method"].astype(str).str.startswith("spectm_")].copy()
    parts = s["method"].astype(str).str.extract(r"^spectm_([^_]+)_([^_]+)$")
    s["strategy"], s["mode"] = parts[0], parts[1]
    cols = ["dataset", "horizon", "mode", "fraction", "strategy", "mean", "std", "n_seeds"]
    cols += ["n_pretrain_seeds", "n_split_seeds"]
    return s[cols].sort_values(cols[:5]).reset_index(drop=True)


def _feature_set(summary: pd.DataFrame, method: str) -> str | None:
    sets = summary.loc[summary["method"] == method, "feature_set"].unique()
    return str(sets[0]) if len(sets) else None


def all_comparisons(
    predictions: pd.DataFrame,
    summary: pd.DataFrame,
    *,
    n_boot: int,
    method: str = SPECTM_METHOD,
) -> list[Comparison]:
    """Every paired comparison the report states (see the module docstring).

    SpecTM (``method``) vs the best baseline, chosen by its seed-mean R² under ``date_cv`` at
    the same fraction (the best at 100 % also for ``next_season``: never chosen on the test
    season), at 100 % and at the smallest fraction both have; and, for each fine-tuning mode,
    ``targeted`` vs ``random`` and vs ``none`` at those fractions. Cells a method lacks are
    skipped.
    """
    out: list[Comparison] = []
    means = seed_mean(summary, protocol=None)
    fracs = sorted(means["fraction"].astype(float).unique())
    spectm_fs = _feature_set(summary, method)
    cells = means[["dataset", "horizon"]].drop_duplicates().sort_values(["dataset", "horizon"])
    for dataset, horizon in cells.itertuples(index=False):
        cell = means[(means["dataset"] == dataset) & (means["horizon"] == horizon)]
        have = cell[cell["method"] == method]["fraction"].astype(float).unique()
        shown = sorted({f for f in (min(have, default=np.nan), 1.0) if f in fracs and f in have})
        kw = dict(dataset=dataset, horizon=horizon, n_boot=n_boot)
        for fraction in shown:
            try:
                best = best_by(summary, fraction=fraction)
            except ValueError:
                continue
            b = best[(best["dataset"] == dataset) & (best["horizon"] == horizon)]
            if b.empty or spectm_fs is None:
                continue
            base = MethodKey(str(b["method"].iloc[0]), str(b["feature_set"].iloc[0]))
            protocols = ["date_cv"] + (["next_season"] if np.isclose(fraction, 1.0) else [])
            for protocol in protocols:
                if not ((cell["protocol"] == protocol) & (cell["method"] == method)).any():
                    continue
                try:
                    out.append(
                        paired_difference(
                            predictions, MethodKey(method, spectm_fs), base,
                            fraction=fraction, protocol=protocol,
                            what="SpecTM vs best baseline", **kw,
                        )
                    )  # fmt: skip
                except ValueError as exc:
                    log.warning("comparison skipped: %s", exc)
        modes = sorted(
            {m.split("_")[-1] for m in cell["method"].astype(str) if m.startswith("spectm_")}
        )
        for mode in modes:
            for fraction in shown:
                for sa, sb in ABLATION_PAIRS:
                    ma, mb = f"spectm_{sa}_{mode}", f"spectm_{sb}_{mode}"
                    fa, fb = _feature_set(summary, ma), _feature_set(summary, mb)
                    if fa is None or fb is None:
                        continue
                    try:
                        out.append(
                            paired_difference(
                                predictions, MethodKey(ma, fa), MethodKey(mb, fb),
                                fraction=fraction, what=f"{sa} vs {sb} masking ({mode})", **kw,
                            )
                        )  # fmt: skip
                    except ValueError:  # e.g. full fine-tuning only at some fractions
                        continue
    return out


def efficiency_table(
    summary: pd.DataFrame, *, method: str = SPECTM_METHOD
) -> tuple[pd.DataFrame, dict[tuple[str, str], pd.DataFrame]]:
    """Label-efficiency ratio at 5 % labels per dataset x horizon, and the curves."""
    rows, curves = [], {}
    for _, b in best_by(summary).iterrows():
        key = (str(b["dataset"]), str(b["horizon"]))
        try:
            eff = label_efficiency_ratio(
                summary,
                method=method,
                baseline=str(b["method"]),
                baseline_feature_set=str(b["feature_set"]),
                horizon=key[1],
                dataset=key[0],
                at_fraction=0.05,
            )
        except ValueError as exc:  # e.g. no SpecTM result at 5 %
            rows.append(
                {"dataset": key[0], "horizon": key[1], "ratio": np.nan, "explanation": str(exc)}
            )
            continue
        curves[key] = eff.curve
        rows.append(
            {
                "dataset": key[0],
                "horizon": key[1],
                "ratio": eff.ratio,
                "fraction_needed": eff.fraction_needed,
                "spectm_r2_at_5pct": eff.target,
                "explanation": eff.explanation,
            }
        )
    return pd.DataFrame(rows), curves


def interval_table(summary: pd.DataFrame, *, alpha: float) -> pd.DataFrame:
    """Empirical coverage and width of the prediction intervals per method x horizon (100 %)."""
    s = summary[
        (summary["dt_stratum"] == "all")
        & np.isclose(summary["fraction"].astype(float), 1.0)
        & (summary["protocol"] == "date_cv")
    ]
    g = s.groupby(["dataset", "horizon", "method"], sort=True)
    out = g.agg(
        coverage=("pi_coverage", "mean"),
        width_log10=("pi_width_log10", "median"),
        n_predictions=("n", "sum"),
    ).reset_index()
    out.insert(3, "nominal", 1.0 - alpha)
    return out


def efficiency_figure(curves: Mapping[tuple[str, str], pd.DataFrame], path: PathLike) -> Path:
    """R² (log10) against label fraction for SpecTM and the best baseline per cell."""
    n = max(len(curves), 1)
    fig, axes = plt.subplots(1, n, figsize=(4.2 * n, 3.4), squeeze=False)
    for ax, (key, c) in zip(axes[0], sorted(curves.items()), strict=False):
        for role, colour in (("method", "#d1495b"), ("baseline", "#3a6ea5")):
            r = c[c["role"] == role]
            if r.empty:
                continue
            label = f"{r['method'].iloc[0]} ({r['feature_set'].iloc[0]})"
            ax.errorbar(
                r["fraction"] * 100,
                r["mean"],
                yerr=r["std"].fillna(0),
                marker="o",
                color=colour,
                label=label,
                capsize=2,
            )
        ax.set_xscale("log")
        ax.set_xlabel("training labels (%)")
        ax.set_title(f"{key[0]} · {key[1]}", fontsize=10)
        ax.axhline(0, color="0.7", lw=0.7)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("R² (log10), mean ± sd over seeds")
    return save_figure(fig, path)


def scatter_figure(predictions: pd.DataFrame, comparison: pd.DataFrame, path: PathLike) -> Path:
    """Predicted vs observed log10 microcystin: SpecTM and the best baseline, 100 % labels.

    One replicate each (the first split seed; SpecTM's last pretraining seed), date-grouped CV.
    """
    cells = comparison[["dataset", "horizon", "spectm_method", "best_baseline"]].to_numpy()
    n = max(len(cells), 1)
    fig, axes = plt.subplots(1, n, figsize=(4 * n, 3.8), squeeze=False)
    p = predictions[
        np.isclose(predictions["fraction"].astype(float), 1.0)
        & (predictions["protocol"] == "date_cv")
        & (predictions["seed"] == predictions["seed"].min())
        & predictions["pretrain_seed"].isin([-1, predictions["pretrain_seed"].max()])
    ]
    for ax, (dataset, horizon, method, best) in zip(axes[0], cells, strict=False):
        base_method, base_fs = best.split(" (")
        base_fs = base_fs.rstrip(")")
        cell = p[(p["dataset"] == dataset) & (p["horizon"] == horizon)]
        for sel, colour, label in (
            (cell["method"] == method, "#d1495b", method),
            ((cell["method"] == base_method) & (cell["feature_set"] == base_fs), "#3a6ea5", best),
        ):
            d = cell[sel]
            ax.scatter(
                d["y_true_log10"], d["y_pred_log10"], s=8, alpha=0.5, color=colour, label=label
            )
        lim = [-2.2, 2.0]
        ax.plot(lim, lim, color="0.5", lw=0.8)
        ax.set_xlim(lim)
        ax.set_ylim(lim)
        ax.set_xlabel("observed log10 microcystin (µg/L)")
        ax.set_title(f"{dataset} · {horizon}", fontsize=10)
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("predicted log10 microcystin (µg/L)")
    return save_figure(fig, path)


def write_metric_tables(
    prediction_paths: Sequence[PathLike],
    info_paths: Sequence[PathLike],
    outputs: Mapping[str, PathLike],
    *,
    alpha: float,
    n_boot: int,
) -> pd.DataFrame:
    """Write summary, comparison(s), ablation, efficiency and interval tables and two figures.

    Args:
        prediction_paths: SpecTM and baseline prediction tables (Parquet).
        info_paths: Baseline run-information JSON files (configurations counted).
        outputs: Paths keyed ``summary, comparison, comparisons, ablation, efficiency,
            intervals, efficiency_figure, scatter_figure``.
        alpha: Interval miscoverage (nominal coverage 1 - alpha).
        n_boot: Bootstrap resamples of each paired comparison.
    """
    predictions = read_predictions(prediction_paths)
    summary = summarise(predictions)
    write_csv(summary, outputs["summary"])
    comparison = comparison_table(summary)
    n_configs = sum(
        int(json.loads(Path(p).read_text()).get("n_configurations", 0)) for p in info_paths
    )
    log.info("baseline configurations over all grids: %d", n_configs)
    write_csv(comparison, outputs["comparison"])
    comparisons = comparisons_table(all_comparisons(predictions, summary, n_boot=n_boot))
    write_csv(comparisons, outputs["comparisons"])
    for text in comparisons["sentence"]:
        log.info("%s", text)
    write_csv(ablation_table(summary), outputs["ablation"])
    eff, curves = efficiency_table(summary)
    write_csv(eff, outputs["efficiency"])
    write_csv(interval_table(summary, alpha=alpha), outputs["intervals"])
    efficiency_figure(curves, outputs["efficiency_figure"])
    scatter_figure(predictions, comparison, outputs["scatter_figure"])
    return summary
