import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from spectm.evaluate.efficiency import crossing_fraction, label_efficiency_ratio
from spectm.evaluate.metrics import regression_metrics
from spectm.evaluate.summary import DT_STRATA, KEYS, best_by, dt_stratum, seed_mean, summarise


def predictions(methods=("ridge", "svr"), fractions=(0.5, 1.0), seeds=(0, 1), n=24, seed=0):
    """A predictions table with known errors: method 'ridge' is better than 'svr'."""
    rng = np.random.default_rng(seed)
    dt = np.array([2.0, -20.0, 30.0, 47.0, 60.0, np.nan, 100.0, 24.0] * (n // 8))
    rows = []
    for m in methods:
        for f in fractions:
            for s in seeds:
                y = rng.normal(size=n)
                err = (0.2 if m == "ridge" else 0.8) * rng.normal(size=n)
                p = y + err
                rows.append(
                    pd.DataFrame(
                        {
                            "dataset": "d",
                            "method": m,
                            "horizon": "current_week",
                            "feature_set": "indices",
                            "fraction": f,
                            "seed": s,
                            "fold": np.arange(n) % 3,
                            "row_id": np.arange(n),
                            "date": [f"2024-07-{1 + i % 6:02d}" for i in range(n)],
                            "y_true_log10": y,
                            "y_pred_log10": p,
                            "pi_lo_log10": p - 0.5,
                            "pi_hi_log10": p + 0.5,
                            "abs_dt_hours": np.abs(dt),
                            "config": "{}",
                        }
                    )
                )
    return pd.concat(rows, ignore_index=True)


@pytest.mark.parametrize("seed", range(5))
def test_regression_metrics_match_scipy(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 40))
    y = np.round(rng.normal(size=n), 1)  # rounding makes ties for the ranks
    p = np.round(0.7 * y + rng.normal(scale=0.5, size=n), 1)
    m = regression_metrics(y, p)
    fit = stats.linregress(y, p)
    assert m["slope_log10"] == pytest.approx(fit.slope, rel=1e-10)
    assert m["intercept_log10"] == pytest.approx(fit.intercept, rel=1e-10, abs=1e-12)
    assert m["pearson_log10"] == pytest.approx(stats.pearsonr(y, p).statistic, rel=1e-10)
    assert m["spearman_log10"] == pytest.approx(stats.spearmanr(y, p).statistic, rel=1e-10)
    yl, pl = 10.0**y, 10.0**p
    assert m["spearman_linear"] == pytest.approx(stats.spearmanr(yl, pl).statistic, rel=1e-10)
    assert m["pearson_linear"] == pytest.approx(stats.pearsonr(yl, pl).statistic, rel=1e-10)


def test_dt_strata_boundaries():
    got = dt_stratum(np.array([0.0, 24.0, 24.01, 48.0, 96.0, 96.5, np.nan, -30.0]))
    assert list(got) == [
        "<=24h",
        "<=24h",
        "24-48h",
        "24-48h",
        "48-96h",
        ">96h",
        "unknown",
        "24-48h",
    ]


def test_summarise_rows_strata_and_values():
    pred = predictions()
    s = summarise(pred)
    n_cells = 2 * 2 * 2
    # every stratum is populated: <=24h (2, 20, 24), 24-48h (30, 47), 48-96h, >96h, unknown
    assert len(s) == n_cells * len(DT_STRATA)
    assert list(s.columns[: len(KEYS) + 1]) == [*KEYS, "dt_stratum"]
    for col in ("r2_log10", "rmse_linear", "spearman_log10", "pi_coverage", "pi_width_log10"):
        assert col in s.columns
    assert (s.loc[s.dt_stratum == "all", "n"] == 24).all()
    per = s[s.dt_stratum != "all"].groupby([*KEYS]).n.sum()
    assert (per == 24).all()  # strata partition the rows
    assert (s.loc[s.dt_stratum == "<=24h", "n"] == 9).all()
    one = pred[(pred.method == "ridge") & (pred.fraction == 1.0) & (pred.seed == 0)]
    row = s[(s.method == "ridge") & (s.fraction == 1.0) & (s.seed == 0) & (s.dt_stratum == "all")]
    y, p = one.y_true_log10.to_numpy(), one.y_pred_log10.to_numpy()
    r2 = 1 - np.sum((p - y) ** 2) / np.sum((y - y.mean()) ** 2)
    assert row.r2_log10.item() == pytest.approx(r2)
    assert row.pi_coverage.item() == pytest.approx(np.mean(np.abs(p - y) <= 0.5))
    assert row.pi_width_log10.item() == pytest.approx(1.0)
    assert row.n_folds.item() == 3


def test_summarise_skips_empty_strata_and_handles_missing_dt():
    pred = predictions(methods=("ridge",), fractions=(1.0,), seeds=(0,)).drop(
        columns="abs_dt_hours"
    )
    s = summarise(pred)
    assert list(s.dt_stratum) == ["all", "unknown"]
    with pytest.raises(ValueError, match="y_pred_log10"):
        summarise(pred.drop(columns="y_pred_log10"))


def test_best_by_picks_best_baseline_and_excludes_spectm():
    pred = predictions(methods=("ridge", "svr", "spectm_targeted_frozen"))
    pred.loc[pred.method == "spectm_targeted_frozen", "y_pred_log10"] = pred.y_true_log10
    s = summarise(pred)
    best = best_by(s)
    assert len(best) == 1 and best.method.item() == "ridge" and best.n_seeds.item() == 2
    assert best_by(s, exclude_prefix=None).method.item() == "spectm_targeted_frozen"
    assert best_by(s, metric="rmse_log10", higher_is_better=False).method.item() == "ridge"
    m = seed_mean(s)
    assert set(m.columns) >= {"mean", "std", "n_seeds", "fraction"}
    with pytest.raises(ValueError, match="no r2_log10"):
        best_by(s, fraction=0.123)


def curve_summary(spectm_at_5, baseline_curve, seeds=(0, 1, 2)):
    """A summary-like table (stratum all) from hand-made seed-mean curves."""
    rows = []
    for s in seeds:
        jitter = (s - 1) * 0.01  # mean over the 3 seeds is exact
        rows.append(("spectm_targeted_frozen", "spectm", 0.05, spectm_at_5 + jitter, s))
        rows.append(("spectm_targeted_frozen", "spectm", 1.0, 0.8 + jitter, s))
        for f, v in baseline_curve.items():
            rows.append(("ridge", "indices", f, v + jitter, s))
            rows.append(("ridge", "rrs_paper", f, v - 0.2 + jitter, s))
    df = pd.DataFrame(rows, columns=["method", "feature_set", "fraction", "r2_log10", "seed"])
    return df.assign(dataset="d", horizon="current_week", dt_stratum="all")


def test_crossing_fraction():
    f, v = np.array([0.25, 0.05, 0.1, 1.0]), np.array([0.6, 0.3, 0.5, 0.7])
    assert crossing_fraction(f, v, 0.55) == pytest.approx(0.175)
    assert crossing_fraction(f, v, 0.2) == 0.05
    assert math.isnan(crossing_fraction(f, v, 0.9))


def test_label_efficiency_ratio_hand_made_curve():
    s = curve_summary(0.55, {0.05: 0.3, 0.1: 0.5, 0.25: 0.6, 1.0: 0.7})
    res = label_efficiency_ratio(
        s, method="spectm_targeted_frozen", baseline="ridge", horizon="current_week"
    )
    # 0.55 is crossed between (0.1, 0.5) and (0.25, 0.6): f = 0.1 + 0.5 * 0.15 = 0.175
    assert res.fraction_needed == pytest.approx(0.175)
    assert res.ratio == pytest.approx(3.5)
    assert res.baseline_feature_set == "indices"  # the baseline's best at fraction 1.0
    assert res.target == pytest.approx(0.55)
    assert "0.175" in res.explanation
    assert set(res.curve.role) == {"method", "baseline"} and len(res.curve) == 2 + 4


def test_label_efficiency_never_reached_and_already_reached():
    s = curve_summary(0.75, {0.05: 0.3, 0.5: 0.6, 1.0: 0.7})
    res = label_efficiency_ratio(
        s, method="spectm_targeted_frozen", baseline="ridge", horizon="current_week"
    )
    assert math.isnan(res.ratio) and "> 1/0.05 = 20" in res.explanation
    s = curve_summary(0.2, {0.05: 0.3, 1.0: 0.7})
    res = label_efficiency_ratio(
        s, method="spectm_targeted_frozen", baseline="ridge", horizon="current_week"
    )
    assert res.ratio == pytest.approx(1.0) and "smallest measured" in res.explanation
    with pytest.raises(ValueError, match="not in the summary"):
        label_efficiency_ratio(s, method="nope", baseline="ridge", horizon="current_week")
