"""The report's headline tables from hand-made prediction tables with known answers.

Every cell has the same ten truths ``Y`` (mean 0, sum of squares 20) and predictions ``Y + c*s``
with ``s`` alternating +1/-1, so R² = 1 - 10c²/20 = 1 - c²/2 exactly: each seed's R² is chosen
below and ``c`` derived from it. Seed 0 gets ``mean - d`` and seed 1 ``mean + d``, so the seed
mean is ``mean`` and the sample sd is ``d * sqrt(2)``. Intervals are built around the truth so
that the first ``k`` rows cover it (width 0.2) and the others miss it (width 0.5).
"""

import json
import logging
import math

import numpy as np
import pandas as pd
import pytest

from spectm.evaluate import headline
from spectm.evaluate.headline import (
    ablation_table,
    comparison_table,
    efficiency_table,
    interval_table,
    write_metric_tables,
)
from spectm.evaluate.protocol import PREDICTION_COLUMNS, write_predictions
from spectm.evaluate.summary import summarise

Y = np.array([-2.0, -1.0, 0.0, 1.0, 2.0, -2.0, -1.0, 0.0, 1.0, 2.0])
SIGN = np.array([1.0, -1.0] * 5)
DT = np.array([10.0] * 3 + [30.0] * 7)  # two unequal |dt| strata besides "all"
SQRT2 = math.sqrt(2.0)

# (horizon, method, feature set) -> ({fraction: seed-mean R²}, d)
CELLS = {
    ("current_week", "ridge", "indices"): ({0.05: 0.2, 0.25: 0.6, 1.0: 0.7}, 0.02),
    # svr's seed 1 (0.75) beats ridge's best seed (0.72): only the seed MEAN makes ridge best
    ("current_week", "svr", "rrs"): ({0.05: 0.1, 0.25: 0.3, 1.0: 0.5}, 0.25),
    ("current_week", "spectm_targeted_frozen", "spectm"): ({0.05: 0.4, 1.0: 0.8}, 0.03),
    ("current_week", "spectm_random_frozen", "spectm"): ({0.05: 0.35, 1.0: 0.75}, 0.01),
    ("current_week", "spectm_none_frozen", "spectm"): ({0.05: 0.3, 1.0: 0.6}, 0.05),
    ("8day_ahead", "ridge", "indices"): ({0.05: 0.1, 0.25: 0.3, 1.0: 0.45}, 0.02),
    ("8day_ahead", "svr", "rrs"): ({0.05: 0.3, 0.25: 0.5, 1.0: 0.6}, 0.25),
    ("8day_ahead", "spectm_targeted_frozen", "spectm"): ({0.05: 0.65, 1.0: 0.7}, 0.03),
    ("8day_ahead", "spectm_random_frozen", "spectm"): ({0.05: 0.5, 1.0: 0.55}, 0.01),
    ("8day_ahead", "spectm_none_frozen", "spectm"): ({0.05: 0.4, 1.0: 0.5}, 0.05),
}
SEEDS = (0, 1)


def covered(method: str, fraction: float, seed: int) -> int:
    """Rows whose interval covers the truth: only fraction 1 counts in the interval table."""
    if fraction != 1.0:
        return 0
    if method.startswith("spectm"):
        return 8 if seed == 0 else 6
    return 10


def cell_frame(horizon, method, feature_set, fraction, seed, r2):
    c = math.sqrt(2.0 * (1.0 - r2))
    pred = Y + c * SIGN
    k = covered(method, fraction, seed)
    hit = np.arange(Y.size) < k
    lo = np.where(hit, Y - 0.1, Y + 0.2)
    hi = np.where(hit, Y + 0.1, Y + 0.7)
    n = Y.size
    return pd.DataFrame(
        {
            "dataset": "d",
            "protocol": "date_cv",
            "method": method,
            "horizon": horizon,
            "feature_set": feature_set,
            "fraction": fraction,
            "pretrain_seed": 0 if method.startswith("spectm") else -1,
            "seed": seed,
            "fold": np.arange(n) % 2,
            "row_id": np.arange(n),
            "date": [f"2024-07-{1 + i:02d}" for i in range(n)],
            "y_true_log10": Y,
            "y_pred_log10": pred,
            "pi_lo_log10": lo,
            "pi_hi_log10": hi,
            "abs_dt_hours": DT,
            "config": json.dumps({"alpha": 1.0}),
        }
    )


def make_predictions() -> pd.DataFrame:
    frames = []
    for (horizon, method, fs), (means, d) in CELLS.items():
        for fraction, mean in means.items():
            for seed in SEEDS:
                r2 = mean - d if seed == 0 else mean + d
                frames.append(cell_frame(horizon, method, fs, fraction, seed, r2))
    return pd.concat(frames, ignore_index=True)[list(PREDICTION_COLUMNS)]


@pytest.fixture(scope="module")
def predictions():
    return make_predictions()


@pytest.fixture(scope="module")
def summary(predictions):
    return summarise(predictions)


def test_fixture_has_the_designed_r2(summary):
    # guards the construction the expectations below rely on
    row = summary[
        (summary.method == "svr")
        & (summary.horizon == "current_week")
        & (summary.fraction == 1.0)
        & (summary.seed == 1)
        & (summary.dt_stratum == "all")
    ]
    assert row.r2_log10.item() == pytest.approx(0.75)


def test_comparison_best_baseline_by_seed_mean(summary):
    comp = comparison_table(summary)
    assert list(comp.columns) == [
        "dataset",
        "horizon",
        "spectm_method",
        "spectm_r2_log10",
        "spectm_r2_sd",
        "best_baseline",
        "best_baseline_r2_log10",
        "best_baseline_r2_sd",
        "n_seeds",
        "paper_spectm_r2 (other data)",
        "paper_best_baseline_r2 (other data)",
    ]
    assert list(comp.horizon) == ["8day_ahead", "current_week"]
    cw = comp[comp.horizon == "current_week"].iloc[0]
    assert cw.best_baseline == "ridge (indices)"
    assert cw.spectm_method == "spectm_targeted_frozen"
    assert cw.spectm_r2_log10 == pytest.approx(0.8)
    assert cw.spectm_r2_sd == pytest.approx(0.03 * SQRT2)
    assert cw.best_baseline_r2_log10 == pytest.approx(0.7)
    assert cw.best_baseline_r2_sd == pytest.approx(0.02 * SQRT2)
    assert cw.n_seeds == 2
    assert cw["paper_spectm_r2 (other data)"] == pytest.approx(0.695)
    assert cw["paper_best_baseline_r2 (other data)"] == pytest.approx(0.51)
    ahead = comp[comp.horizon == "8day_ahead"].iloc[0]
    assert ahead.best_baseline == "svr (rrs)"
    assert ahead.spectm_r2_log10 == pytest.approx(0.7)
    assert ahead.best_baseline_r2_log10 == pytest.approx(0.6)
    assert ahead.best_baseline_r2_sd == pytest.approx(0.25 * SQRT2)
    assert ahead["paper_spectm_r2 (other data)"] == pytest.approx(0.62)
    assert math.isnan(ahead["paper_best_baseline_r2 (other data)"])


def test_comparison_without_spectm_results_is_nan(summary):
    comp = comparison_table(summary, method="spectm_missing_frozen")
    assert comp.spectm_r2_log10.isna().all() and comp.spectm_r2_sd.isna().all()
    assert list(comp.best_baseline) == ["svr (rrs)", "ridge (indices)"]


def test_ablation_rows_are_seed_means_per_strategy(summary):
    abl = ablation_table(summary)
    assert list(abl.columns) == [
        "dataset",
        "horizon",
        "mode",
        "fraction",
        "strategy",
        "mean",
        "std",
        "n_seeds",
        "n_pretrain_seeds",
        "n_split_seeds",
    ]
    assert set(abl["mode"]) == {"frozen"}
    assert len(abl) == 2 * 2 * 3  # horizons x fractions x strategies; no baseline rows
    expected = []
    for horizon in ("8day_ahead", "current_week"):  # the table's sort order
        for fraction in (0.05, 1.0):
            for strategy in ("none", "random", "targeted"):
                means, d = CELLS[(horizon, f"spectm_{strategy}_frozen", "spectm")]
                expected.append((horizon, fraction, strategy, means[fraction], d * SQRT2))
    got = list(zip(abl.horizon, abl.fraction, abl.strategy, abl["mean"], abl["std"], strict=True))
    for g, e in zip(got, expected, strict=True):
        assert g[:3] == e[:3]
        assert g[3] == pytest.approx(e[3]) and g[4] == pytest.approx(e[4])
    assert (abl.n_seeds == 2).all()


def test_ablation_without_spectm_rows_is_empty(summary):
    abl = ablation_table(summary[~summary.method.str.startswith("spectm")])
    assert abl.empty and "strategy" in abl.columns


def test_efficiency_ratio_and_never_reached(summary):
    eff, curves = efficiency_table(summary)
    eff = eff.set_index("horizon")
    # current week: SpecTM 0.4 at 5 %; ridge (indices) goes 0.2 @ 0.05 -> 0.6 @ 0.25, so it
    # needs 0.05 + (0.4 - 0.2) / (0.6 - 0.2) * 0.2 = 0.15 of the labels: ratio 3
    cw = eff.loc["current_week"]
    assert cw.fraction_needed == pytest.approx(0.15)
    assert cw.ratio == pytest.approx(3.0)
    assert cw.spectm_r2_at_5pct == pytest.approx(0.4)
    assert "ridge (indices)" in cw.explanation
    # 8-day: SpecTM 0.65 at 5 %; the best baseline svr (rrs) peaks at 0.6: never reached
    ahead = eff.loc["8day_ahead"]
    assert math.isnan(ahead.ratio) and math.isnan(ahead.fraction_needed)
    assert ahead.spectm_r2_at_5pct == pytest.approx(0.65)
    assert "svr (rrs)" in ahead.explanation and "> 1/0.05 = 20" in ahead.explanation
    curve = curves[("d", "current_week")]
    base = curve[curve.role == "baseline"]
    assert list(base.fraction) == [0.05, 0.25, 1.0]
    assert base["mean"].to_numpy() == pytest.approx([0.2, 0.6, 0.7])
    meth = curve[curve.role == "method"]
    assert meth["mean"].to_numpy() == pytest.approx([0.4, 0.8])


def test_efficiency_without_spectm_at_5pct_explains(summary):
    eff, curves = efficiency_table(summary[summary.fraction != 0.05])
    assert len(eff) == 2 and eff.ratio.isna().all()
    assert eff.explanation.str.contains("no result at fraction 0.05").all()
    assert curves == {}


def test_interval_coverage_uses_all_stratum_at_full_labels(summary):
    iv = interval_table(summary, alpha=0.1)
    assert list(iv.columns) == [
        "dataset",
        "horizon",
        "method",
        "nominal",
        "coverage",
        "width_log10",
        "n_predictions",
    ]
    assert len(iv) == 2 * 5
    assert iv.nominal.to_numpy() == pytest.approx(np.full(len(iv), 0.9))
    t = iv[(iv.horizon == "current_week") & (iv.method == "spectm_targeted_frozen")].iloc[0]
    # seed 0: 8/10 covered, mean width (8 * 0.2 + 2 * 0.5) / 10 = 0.26;
    # seed 1: 6/10, (6 * 0.2 + 4 * 0.5) / 10 = 0.32; coverage mean 0.7, width median 0.29
    assert t.coverage == pytest.approx(0.7)
    assert t.width_log10 == pytest.approx(0.29)
    assert t.n_predictions == 20
    r = iv[(iv.horizon == "8day_ahead") & (iv.method == "ridge")].iloc[0]
    assert r.coverage == pytest.approx(1.0) and r.width_log10 == pytest.approx(0.2)


def test_write_metric_tables_writes_every_output(tmp_path, predictions, monkeypatch, caplog):
    spectm = predictions.method.str.startswith("spectm")
    paths = [
        write_predictions(predictions[spectm], tmp_path / "pred" / "spectm.parquet"),
        write_predictions(predictions[~spectm], tmp_path / "pred" / "baselines.parquet"),
    ]
    infos = []
    for name, n in (("a", 3), ("b", 4)):
        p = tmp_path / f"{name}.json"
        p.write_text(json.dumps({"n_configurations": n}))
        infos.append(p)
    names = ("summary", "comparison", "comparisons", "ablation", "efficiency", "intervals")
    outputs = {k: tmp_path / "metrics" / f"{k}.csv" for k in names}
    outputs["efficiency_figure"] = tmp_path / "figures" / "eff.png"
    outputs["scatter_figure"] = tmp_path / "figures" / "scatter.png"

    figures = {}
    real_save = headline.save_figure

    def keep(fig, path):
        figures[str(path)] = fig
        return real_save(fig, path)

    monkeypatch.setattr(headline, "save_figure", keep)
    with caplog.at_level(logging.INFO, logger="spectm.evaluate.headline"):
        summary = write_metric_tables(paths, infos, outputs, alpha=0.2, n_boot=200)
    assert "baseline configurations over all grids: 7" in caplog.text
    for key, path in outputs.items():
        assert path.is_file(), key
    for key in ("efficiency_figure", "scatter_figure"):
        assert outputs[key].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    written = pd.read_csv(outputs["summary"])
    # (4 baseline cells x 3 fractions + 6 SpecTM cells x 2) x 2 seeds x 3 strata
    assert len(written) == len(summary) == (4 * 3 + 6 * 2) * 2 * 3
    comp = pd.read_csv(outputs["comparison"])
    assert list(comp.best_baseline) == ["svr (rrs)", "ridge (indices)"]
    assert comp.spectm_r2_log10.to_numpy() == pytest.approx([0.7, 0.8])
    abl = pd.read_csv(outputs["ablation"])
    assert len(abl) == 12 and set(abl.strategy) == {"targeted", "random", "none"}
    comps = pd.read_csv(outputs["comparisons"])
    # per horizon: SpecTM vs best baseline at 5 % and 100 %, targeted vs random/none at both
    assert len(comps) == 2 * (2 + 2 * 2)
    cw = comps[(comps.horizon == "current_week") & (comps.fraction == 1.0)]
    vs_best = cw[cw.what == "SpecTM vs best baseline"].iloc[0]
    assert (vs_best.a, vs_best.b) == ("spectm_targeted_frozen (spectm)", "ridge (indices)")
    assert vs_best["diff"] == pytest.approx(0.8 - 0.7)
    assert vs_best.sentence.endswith(f"{vs_best.a} is better.")
    eff = pd.read_csv(outputs["efficiency"])
    assert eff.set_index("horizon").loc["current_week", "ratio"] == pytest.approx(3.0)
    iv = pd.read_csv(outputs["intervals"])
    assert iv.nominal.to_numpy() == pytest.approx(np.full(len(iv), 0.8))

    # efficiency figure: one panel per dataset x horizon, SpecTM and best-baseline curves
    eff_fig = figures[str(outputs["efficiency_figure"])]
    axes = [ax for ax in eff_fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in axes] == ["d · 8day_ahead", "d · current_week"]
    cw = axes[1]
    lines = {c.get_label(): c.lines[0] for c in cw.containers}
    assert set(lines) == {"spectm_targeted_frozen (spectm)", "ridge (indices)"}
    base = lines["ridge (indices)"]
    assert list(base.get_xdata()) == pytest.approx([5.0, 25.0, 100.0])
    assert list(base.get_ydata()) == pytest.approx([0.2, 0.6, 0.7])

    # scatter figure: one replicate (the first split seed) of the 100 % predictions of SpecTM
    # and of the best baseline per cell
    sc_fig = figures[str(outputs["scatter_figure"])]
    ahead = next(ax for ax in sc_fig.axes if ax.get_title() == "d · 8day_ahead")
    pts = {c.get_label(): c.get_offsets() for c in ahead.collections}
    sel = (
        (predictions.horizon == "8day_ahead")
        & (predictions.method == "svr")
        & (predictions.fraction == 1.0)
        & (predictions.seed == 0)
    )
    want = predictions.loc[sel, ["y_true_log10", "y_pred_log10"]].to_numpy()
    assert np.asarray(pts["svr (rrs)"]) == pytest.approx(want)
    assert len(pts["spectm_targeted_frozen"]) == 10
