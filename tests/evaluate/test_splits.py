import math

import numpy as np
import pandas as pd
import pytest

from spectm.evaluate.conformal import conformal_halfwidth, empirical_coverage
from spectm.evaluate.metrics import METRIC_NAMES, regression_metrics
from spectm.evaluate.splits import date_grouped_splits, date_groups, subsample_fraction


def _times(n_dates: int = 23, seed: int = 0) -> pd.Series:
    """Sample times on n_dates cruise days, 1-9 samples per day, at several hours of the day."""
    rng = np.random.default_rng(seed)
    days = pd.date_range("2024-06-01", periods=n_dates, freq="3D", tz="UTC")
    out = []
    for d in days:
        for _ in range(int(rng.integers(1, 10))):
            out.append(d + pd.Timedelta(hours=float(rng.uniform(12, 23.9))))
    return pd.Series(out)


def test_date_groups_uses_the_utc_calendar_date():
    t = pd.Series(["2024-07-01T23:30:00-05:00", "2024-07-02T01:00:00Z", "2024-07-01T12:00:00Z"])
    assert list(date_groups(t)) == ["2024-07-02", "2024-07-02", "2024-07-01"]


@pytest.mark.parametrize("seed", [0, 1, 2, 7, 123])
@pytest.mark.parametrize("n_splits", [2, 5, 10])
def test_no_date_in_both_train_and_test(seed, n_splits):
    times = _times(seed=seed)
    groups = date_groups(times)
    splits = date_grouped_splits(groups, n_splits=n_splits, seed=seed)
    assert len(splits) == n_splits
    seen = np.zeros(groups.size, dtype=int)
    for train, test in splits:
        assert set(groups[train]).isdisjoint(groups[test])
        assert np.intersect1d(train, test).size == 0
        assert train.size + test.size == groups.size
        seen[test] += 1
    assert np.all(seen == 1)  # every row is tested exactly once per seed


def test_splits_depend_on_seed_and_are_reproducible():
    groups = date_groups(_times())
    a = date_grouped_splits(groups, n_splits=5, seed=0)
    b = date_grouped_splits(groups, n_splits=5, seed=0)
    c = date_grouped_splits(groups, n_splits=5, seed=1)
    assert all(np.array_equal(x[1], y[1]) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x[1], y[1]) for x, y in zip(a, c, strict=True))


def test_folds_capped_at_number_of_dates_and_single_date_rejected():
    groups = np.array(["2024-07-01"] * 4 + ["2024-07-08"] * 3 + ["2024-07-15"] * 2)
    assert len(date_grouped_splits(groups, n_splits=5, seed=0)) == 3
    with pytest.raises(ValueError, match="at least 2 distinct"):
        date_grouped_splits(np.array(["2024-07-01"] * 5), n_splits=5, seed=0)


def test_subsample_fraction():
    train = np.arange(10, 110)
    sub = subsample_fraction(train, fraction=0.25, seed=3)
    assert sub.size == 25 and np.all(np.isin(sub, train)) and np.all(np.diff(sub) > 0)
    assert np.array_equal(sub, subsample_fraction(train, fraction=0.25, seed=3))
    assert subsample_fraction(train, fraction=0.01, seed=3).size == 5  # min_samples
    assert np.array_equal(subsample_fraction(train, fraction=1.0, seed=3), train)
    with pytest.raises(ValueError, match="label fraction"):
        subsample_fraction(train, fraction=0.0, seed=0)


def test_regression_metrics_hand_computed():
    y = np.array([0.0, 1.0, 2.0, 3.0])
    p = np.array([0.5, 1.0, 2.0, 2.5])
    m = regression_metrics(y, p)
    # residuals p - y = [0.5, 0, 0, -0.5]; ss_res = 0.5; ss_tot = 5
    assert m["r2_log10"] == pytest.approx(1 - 0.5 / 5)
    assert m["rmse_log10"] == pytest.approx(math.sqrt(0.5 / 4))
    assert m["mae_log10"] == pytest.approx(0.25)
    assert m["bias_log10"] == pytest.approx(0.0)
    assert m["slope_log10"] == pytest.approx(0.7)  # sum dy*dp / sum dy^2 = 3.5 / 5
    assert m["n"] == 4
    lin_y, lin_p = 10.0**y, 10.0**p
    assert m["rmse_linear"] == pytest.approx(np.sqrt(np.mean((lin_p - lin_y) ** 2)))
    for name in METRIC_NAMES:
        assert f"{name}_log10" in m and f"{name}_linear" in m


def test_regression_metrics_perfect_and_nan_rows():
    y = np.array([-1.0, 0.0, 0.5, np.nan, 1.0])
    m = regression_metrics(y, np.where(np.isnan(y), 3.0, y))
    assert m["n"] == 4 and m["r2_log10"] == pytest.approx(1.0) and m["rmse_linear"] == 0.0
    with pytest.raises(ValueError, match="shape mismatch"):
        regression_metrics(np.zeros(3), np.zeros(4))


def test_conformal_halfwidth_order_statistic():
    r = np.arange(1.0, 20.0)  # n = 19: k = ceil(20 * 0.9) = 18
    assert conformal_halfwidth(r, alpha=0.1) == 18.0
    assert conformal_halfwidth(r[::-1], alpha=0.5) == 10.0  # k = ceil(20 * 0.5) = 10
    assert conformal_halfwidth(np.arange(1.0, 9.0), alpha=0.1) == math.inf  # k = 9 > n = 8
    with pytest.raises(ValueError, match="alpha"):
        conformal_halfwidth(r, alpha=1.5)


def test_conformal_coverage_on_exchangeable_data():
    rng = np.random.default_rng(0)
    hits = []
    for _ in range(200):
        q = conformal_halfwidth(np.abs(rng.normal(size=50)), alpha=0.1)
        y = rng.normal(size=50)
        hits.append(empirical_coverage(y, -q * np.ones(50), q * np.ones(50)))
    assert 0.88 <= np.mean(hits) <= 0.95  # theory: >= 0.9, < 0.9 + 1/51


def test_empirical_coverage():
    y = np.array([0.0, 1.0, 2.0, np.nan])
    assert empirical_coverage(
        y, np.array([-1, 1.5, 2, 0]), np.array([1, 3, 2, 1])
    ) == pytest.approx(2 / 3)
    assert math.isnan(empirical_coverage(np.array([np.nan]), np.zeros(1), np.ones(1)))
