"""Paired bootstrap comparisons: values checked against sklearn's R² and hand-made cases."""

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import r2_score

from spectm.evaluate.compare import (
    MIN_DATES,
    MethodKey,
    _resampled_run_mean,
    comparisons_table,
    paired_difference,
    sentence,
)

N_DATES, PER_DATE = 12, 3
A = MethodKey("spectm_targeted_frozen", "spectm_paper")
B = MethodKey("ridge", "indices")


def truth(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = N_DATES * PER_DATE
    return pd.DataFrame(
        {
            "row_id": [f"r{i:03d}" for i in range(n)],
            "date": [f"2024-07-{1 + i // PER_DATE:02d}" for i in range(n)],
            "y_true_log10": rng.normal(0.0, 1.0, n),
        }
    )


def frame(base: pd.DataFrame, key: MethodKey, preds, *, pretrain_seed=-1, seed=0, **kw):
    out = base.assign(
        dataset="d",
        horizon="current_week",
        protocol=kw.get("protocol", "date_cv"),
        method=key.method,
        feature_set=key.feature_set,
        fraction=kw.get("fraction", 1.0),
        pretrain_seed=pretrain_seed,
        seed=seed,
        y_pred_log10=preds,
    )
    return out


def compare(p, a=A, b=B, **kw):
    args = dict(dataset="d", horizon="current_week", fraction=1.0, n_boot=400)
    return paired_difference(p, a, b, **{**args, **kw})


def test_replicate_means_equal_sklearn_r2_and_rows_pair_by_id():
    t = truth()
    y = t.y_true_log10.to_numpy()
    rng = np.random.default_rng(1)
    a_preds = [y + rng.normal(0, s, y.size) for s in (0.3, 0.4, 0.5, 0.6)]  # 2 x 2 replicates
    b_preds = [y + rng.normal(0, s, y.size) for s in (0.8, 0.9)]
    frames = [
        frame(t, A, a_preds[2 * ps + s], pretrain_seed=ps, seed=s) for ps in (0, 1) for s in (0, 1)
    ]
    # B's rows shuffled: pairing must go by row_id, not by position
    frames += [frame(t, B, b_preds[s], seed=s).sample(frac=1.0, random_state=s) for s in (0, 1)]
    c = compare(pd.concat(frames, ignore_index=True))
    ra = [r2_score(y, p) for p in a_preds]
    rb = [r2_score(y, p) for p in b_preds]
    assert c.a_mean == pytest.approx(np.mean(ra)) and c.a_sd == pytest.approx(np.std(ra, ddof=1))
    assert c.b_mean == pytest.approx(np.mean(rb)) and c.b_sd == pytest.approx(np.std(rb, ddof=1))
    assert (c.a_replicates, c.b_replicates) == (4, 2)
    assert c.diff == pytest.approx(np.mean(ra) - np.mean(rb))
    assert c.n_rows == y.size and c.n_dates == N_DATES
    assert c.lo < c.diff < c.hi
    assert c.verdict == "a better"  # A's errors are about half of B's on every date


def test_identical_methods_are_not_distinguishable():
    t = truth()
    pred = t.y_true_log10.to_numpy() * 0.5
    p = pd.concat([frame(t, A, pred), frame(t, B, pred)], ignore_index=True)
    c = compare(p)
    assert c.diff == 0.0 and c.lo == 0.0 and c.hi == 0.0
    assert c.verdict == "not distinguishable"
    assert "the two are not distinguishable." in sentence(c)


def test_worse_method_a_gives_b_better_and_the_sentence_says_so():
    t = truth()
    y = t.y_true_log10.to_numpy()
    p = pd.concat([frame(t, A, np.zeros_like(y) + y.mean()), frame(t, B, y * 0.9)])
    c = compare(p)
    assert c.a_mean == pytest.approx(0.0, abs=1e-12)  # the constant: R² 0
    assert c.verdict == "b better" and c.hi < 0
    text = sentence(c)
    assert text.startswith("d · current_week, date-grouped CV, 100% labels:")
    assert text.endswith("ridge (indices) is better.")


def test_noise_difference_covers_zero():
    # two methods whose errors are exchangeable draws: no real difference
    t = truth(3)
    y = t.y_true_log10.to_numpy()
    rng = np.random.default_rng(4)
    p = pd.concat(
        [frame(t, A, y + rng.normal(0, 0.7, y.size)), frame(t, B, y + rng.normal(0, 0.7, y.size))]
    )
    c = compare(p)
    assert c.lo < 0 < c.hi and c.verdict == "not distinguishable"


def test_bootstrap_resamples_whole_dates():
    # A is perfect on the first half of the dates, B on the second half; every other row is
    # predicted by the mean. Resampling whole dates moves the difference in steps of dates: with
    # 2 dates the difference can only take the values of the 3 possible date-count splits.
    t = truth().iloc[: 2 * PER_DATE].reset_index(drop=True)
    y = t.y_true_log10.to_numpy()
    first = np.arange(y.size) < PER_DATE
    pa = np.where(first, y, y.mean())
    pb = np.where(first, y.mean(), y)
    p = pd.concat([frame(t, A, pa), frame(t, B, pb)])
    c = compare(p, n_boot=300, min_dates=2)
    assert c.n_dates == 2
    # the truth of the 3 possible resamples: both dates (diff 0), the first twice (A perfect,
    # B the mean of both dates' rows), the second twice (the mirror image)
    w_first = np.where(first, 2.0, 0.0)

    def weighted_r2(w, pred):
        ybar = np.sum(w * y) / w.sum()
        return 1 - np.sum(w * (y - pred) ** 2) / np.sum(w * (y - ybar) ** 2)

    possible = {
        0.0,
        round(weighted_r2(w_first, pa) - weighted_r2(w_first, pb), 9),
        round(weighted_r2(2.0 - w_first, pa) - weighted_r2(2.0 - w_first, pb), 9),
    }
    assert {round(c.lo, 9), round(c.hi, 9)} <= possible


def test_seeded_and_reproducible():
    t = truth()
    y = t.y_true_log10.to_numpy()
    rng = np.random.default_rng(5)
    p = pd.concat(
        [frame(t, A, y + rng.normal(0, 0.5, y.size)), frame(t, B, y + rng.normal(0, 0.6, y.size))]
    )
    first, again = compare(p), compare(p)
    assert (first.lo, first.hi) == (again.lo, again.hi)
    assert (compare(p, seed=1).lo, compare(p, seed=1).hi) != (first.lo, first.hi)


def test_cells_are_selected_by_protocol_and_fraction():
    t = truth()
    y = t.y_true_log10.to_numpy()
    p = pd.concat(
        [
            frame(t, A, y * 0.9, fraction=0.05),
            frame(t, B, y * 0.5, fraction=0.05),
            frame(t, A, y * 0.1, protocol="next_season"),
            frame(t, B, y * 0.95, protocol="next_season"),
        ]
    )
    at5 = compare(p, fraction=0.05)
    assert at5.a_mean == pytest.approx(r2_score(y, y * 0.9))
    ns = compare(p, protocol="next_season")
    assert ns.verdict == "b better" and "next season" in sentence(ns)
    with pytest.raises(ValueError, match=r"no predictions of spectm_targeted_frozen"):
        compare(p)  # nothing at 100 % under date_cv


def test_table_has_one_row_and_sentence_per_comparison():
    t = truth()
    y = t.y_true_log10.to_numpy()
    p = pd.concat([frame(t, A, y * 0.9), frame(t, B, y * 0.5)])
    c = compare(p, what="SpecTM vs best baseline")
    table = comparisons_table([c, c])
    assert len(table) == 2 and table.sentence.iloc[0] == sentence(c)
    assert table.what.iloc[0] == "SpecTM vs best baseline"


def test_next_season_compares_rmse_and_lower_is_better():
    t = truth()
    y = np.full(len(t), -2.0)  # a pre-bloom test season: every label at the detection limit
    t = t.assign(y_true_log10=y)
    rng = np.random.default_rng(2)
    a, b = y + rng.normal(0, 0.1, y.size), y + rng.normal(0, 0.4, y.size)
    p = pd.concat([frame(t, A, a, protocol="next_season"), frame(t, B, b, protocol="next_season")])
    c = compare(p, protocol="next_season")
    assert c.metric == "rmse_log10"
    assert c.a_mean == pytest.approx(np.sqrt(np.mean((a - y) ** 2)))
    assert c.b_mean == pytest.approx(np.sqrt(np.mean((b - y) ** 2)))
    assert c.diff < 0 and c.hi < 0 and c.verdict == "a better"  # R² would be undefined here
    assert "RMSE (log10)" in sentence(c) and "spectm_targeted_frozen (spectm_paper) is better" in (
        sentence(c)
    )
    assert compare(p, protocol="next_season", metric="r2_log10").verdict == "not distinguishable"
    with pytest.raises(ValueError, match="unknown comparison metric"):
        compare(p, protocol="next_season", metric="mae")


def test_too_few_test_dates_give_no_interval_and_no_verdict():
    t = truth().head(4 * PER_DATE)  # 4 sampling dates: below MIN_DATES
    y = t.y_true_log10.to_numpy()
    p = pd.concat([frame(t, A, y), frame(t, B, y * 0.2)])  # A perfect, B far off
    c = compare(p)
    assert c.n_dates == 4 < MIN_DATES
    assert c.verdict == "too few dates" and np.isnan(c.lo) and np.isnan(c.hi)
    assert c.diff == pytest.approx(1.0 - r2_score(y, y * 0.2))
    assert "only 4 sampling date(s): too few for an interval, so no verdict" in sentence(c)
    full = truth()
    ok = compare(pd.concat([frame(full, A, full.y_true_log10), frame(full, B, 0.0)]))
    assert ok.n_dates == N_DATES and ok.verdict == "a better"


def test_pretraining_runs_are_resampled_too():
    # A's three pretraining runs disagree (noise sd 0.2, 0.7, 1.0); B is one run between them.
    # With the runs held fixed the dates alone would give a narrow interval; drawing the runs
    # with replacement lets the interval cover what another set of runs could have given.
    t = truth()
    y = t.y_true_log10.to_numpy()
    rng = np.random.default_rng(7)
    runs = [y + rng.normal(0, s, y.size) for s in (0.2, 0.7, 1.0)]
    b = y + rng.normal(0, 0.6, y.size)
    p = pd.concat(
        [frame(t, A, pr, pretrain_seed=k) for k, pr in enumerate(runs)] + [frame(t, B, b)]
    )
    c = compare(p, n_boot=1000)
    assert c.a_replicates == 3 and c.b_replicates == 1
    r2_runs = [r2_score(y, pr) for pr in runs]
    assert c.hi - c.lo > 0.5 * (max(r2_runs) - min(r2_runs))  # the runs' spread is in the interval
    assert c.lo < 0 < c.hi and c.verdict == "not distinguishable"
    one_run = compare(
        pd.concat([frame(t, A, runs[1], pretrain_seed=1), frame(t, B, b)]), n_boot=1000
    )
    assert one_run.hi - one_run.lo < c.hi - c.lo


def test_resampled_run_mean_has_the_standard_error_of_the_runs():
    rng = np.random.default_rng(0)
    runs_scores = np.array([0.1, 0.5, 0.9])
    # 3 runs x 2 split seeds; every date resample gives the same scores
    scores = np.tile(np.repeat(runs_scores, 2), (40_000, 1))
    out = _resampled_run_mean(scores, np.repeat([0, 1, 2], 2), rng)
    assert out.mean() == pytest.approx(0.5, abs=0.005)
    se = np.std(runs_scores, ddof=1) / np.sqrt(3)  # 0.231; the plain bootstrap gives 0.189
    assert out.std() == pytest.approx(se, rel=0.03)
    one = _resampled_run_mean(scores[:5, :2], np.array([-1, -1]), rng)
    np.testing.assert_allclose(one, 0.1)  # one run: the mean of its replicates, no resampling
