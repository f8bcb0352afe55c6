"""Headline tables on a hand-written summary table whose answers are worked out by hand.

``test_headline.py`` builds predictions and scores them; here the summary rows themselves are
written out (R², coverage, width and n per replicate), so each expected number below is
arithmetic on the literals in :data:`ROWS`, done by hand in the comments. All scores are
binary fractions (multiples of 1/16), so means and sample standard deviations are exact.

Cells (dataset ``d``):

* ``h1``: ridge (indices) and svr (rrs) TIE on the seed mean at 100 % (0.5 each); rf (rrs)
  has one NaN seed; knn (rrs) only at 25 % (0.875); gbm (rrs) only under ``next_season``
  (0.9375); svr scores 0.9375 in the ``<=24h`` stratum; SpecTM targeted / random / none
  (frozen, 2 pretraining x 2 split seeds) at 25 % and 100 %, targeted (full) at 100 % only.
* ``h2``: the only baseline (ridge) has NaN R² in every seed; SpecTM scores 0.5.
"""

import math

import numpy as np
import pandas as pd
import pytest

from spectm.evaluate.headline import ablation_table, comparison_table, interval_table
from spectm.evaluate.summary import best_by, seed_mean

NAN = float("nan")
INF = float("inf")
SPECTM_REPLICATES = ((0, 0), (0, 1), (1, 0), (1, 1))  # (pretrain_seed, seed)


def _rows(method, feature_set, r2s, *, horizon="h1", fraction=1.0, protocol="date_cv",
          stratum="all", cov=None, width=None, n=None, replicates=None):  # fmt: skip
    if replicates is None:
        replicates = [(-1, s) for s in range(len(r2s))]
    k = len(r2s)
    cov = cov if cov is not None else [0.5] * k
    width = width if width is not None else [1.0] * k
    n = n if n is not None else [10] * k
    return [
        {
            "dataset": "d",
            "protocol": protocol,
            "method": method,
            "horizon": horizon,
            "feature_set": feature_set,
            "fraction": fraction,
            "pretrain_seed": ps,
            "seed": s,
            "dt_stratum": stratum,
            "n": n_i,
            "r2_log10": r2,
            "pi_coverage": c,
            "pi_width_log10": w,
        }
        for (ps, s), r2, c, w, n_i in zip(replicates, r2s, cov, width, n, strict=True)
    ]


SP = list(SPECTM_REPLICATES)
ROWS = [
    # --- h1, date_cv, stratum all, 100 % labels
    *_rows("ridge", "indices", [0.25, 0.5, 0.75],
           cov=[0.75, 0.875, 1.0], width=[0.25, 0.5, 1.5], n=[10, 12, 14]),
    *_rows("svr", "rrs", [0.875, 0.125, 0.5], cov=[0.5, 0.75, 1.0], width=[0.25, INF, 0.5]),
    *_rows("rf", "rrs", [0.375, NAN, 0.125]),
    *_rows("spectm_targeted_frozen", "spectm", [0.5625, 0.8125, 0.8125, 0.8125],
           cov=[0.5, 0.75, 0.75, 1.0], width=[0.125, 0.25, 0.375, 0.5], replicates=SP),
    *_rows("spectm_random_frozen", "spectm", [0.5] * 4, replicates=SP),
    *_rows("spectm_none_frozen", "spectm", [0.1875, 0.4375, 0.4375, 0.4375], replicates=SP),
    *_rows("spectm_targeted_full", "spectm", [0.875, 0.625], replicates=[(0, 0), (0, 1)]),
    # --- h1, 25 % labels
    *_rows("ridge", "indices", [0.0, 0.0, 0.0], fraction=0.25),
    *_rows("knn", "rrs", [0.875, 0.875, 0.875], fraction=0.25),
    *_rows("spectm_targeted_frozen", "spectm", [0.5] * 4, fraction=0.25, replicates=SP),
    *_rows("spectm_random_frozen", "spectm", [0.25] * 4, fraction=0.25, replicates=SP),
    *_rows("spectm_none_frozen", "spectm", [0.125] * 4, fraction=0.25, replicates=SP),
    # --- h1 distractors: another protocol, another stratum
    *_rows("gbm", "rrs", [0.9375], protocol="next_season"),
    *_rows("ridge", "indices", [-0.5], protocol="next_season", cov=[0.0], n=[99]),
    *_rows("spectm_targeted_frozen", "spectm", [-1.0], protocol="next_season",
           replicates=[(0, 0)]),
    *_rows("svr", "rrs", [0.9375] * 3, stratum="<=24h", cov=[0.0] * 3, width=[9.0] * 3,
           n=[3] * 3),
    # --- h2: the only baseline is NaN in every seed
    *_rows("ridge", "indices", [NAN, NAN], horizon="h2", cov=[NAN, NAN], width=[NAN, NAN],
           n=[1, 1]),
    *_rows("spectm_targeted_frozen", "spectm", [0.5, 0.5], horizon="h2",
           replicates=[(0, 0), (0, 1)]),
]  # fmt: skip


@pytest.fixture
def summary():
    return pd.DataFrame(ROWS)


def _one(frame, **where):
    sel = np.ones(len(frame), dtype=bool)
    for k, v in where.items():
        sel &= (frame[k] == v).to_numpy()
    assert sel.sum() == 1, where
    return frame[sel].iloc[0]


# ---------------------------------------------------------------- seed means


def test_seed_mean_and_sample_sd_over_replicates(summary):
    m = seed_mean(summary)
    # ridge: (0.25 + 0.5 + 0.75) / 3 = 0.5; deviations -0.25, 0, 0.25 -> 0.125 / (3 - 1) =
    # 0.0625 -> sd 0.25 (the population sd would be 0.204)
    r = _one(m, horizon="h1", method="ridge", fraction=1.0)
    assert r["mean"] == 0.5 and r["std"] == 0.25 and r["n_seeds"] == 3
    # svr: (0.875 + 0.125 + 0.5) / 3 = 0.5; deviations 0.375, -0.375, 0 -> 0.28125 / 2 -> 0.375
    s = _one(m, horizon="h1", method="svr", fraction=1.0)
    assert s["mean"] == 0.5 and s["std"] == 0.375
    # SpecTM replicates are pretraining x split seeds: 0.5625 + 3 * 0.8125 = 3.0 -> 0.75;
    # deviations -0.1875, 0.0625 x 3 -> 0.046875 / 3 = 0.015625 -> sd 0.125
    t = _one(m, horizon="h1", method="spectm_targeted_frozen", fraction=1.0)
    assert t["mean"] == 0.75 and t["std"] == 0.125
    assert (t["n_seeds"], t["n_pretrain_seeds"], t["n_split_seeds"]) == (4, 2, 2)
    full = _one(m, horizon="h1", method="spectm_targeted_full", fraction=1.0)
    assert (full["n_seeds"], full["n_pretrain_seeds"], full["n_split_seeds"]) == (2, 1, 2)
    # only date_cv and the "all" stratum count: gbm (next_season only) has no row, and svr's
    # <=24h rows (0.9375) and the next-season SpecTM row (-1.0) did not move the means above
    assert "gbm" not in set(m["method"])


def test_seed_mean_leaves_nan_seeds_out(summary):
    m = seed_mean(summary)
    # rf: seeds 0.375, NaN, 0.125 -> mean of the two scored seeds 0.25, sd |0.375 - 0.125| /
    # sqrt(2), and n_seeds counts the scored replicates only
    rf = _one(m, horizon="h1", method="rf", fraction=1.0)
    assert rf["mean"] == 0.25
    assert rf["std"] == pytest.approx(0.25 / math.sqrt(2))
    assert rf["n_seeds"] == 2
    # h2 ridge: every seed NaN -> NaN mean, nothing scored
    r2 = _one(m, horizon="h2", method="ridge", fraction=1.0)
    assert math.isnan(r2["mean"]) and r2["n_seeds"] == 0


# ---------------------------------------------------------------- best baseline


def test_best_baseline_tie_goes_to_the_first_method_name(summary):
    best = best_by(summary)
    # h1 at 100 %: ridge 0.5 = svr 0.5 > rf 0.25 (SpecTM excluded). The tie is broken by
    # method x feature-set name order (ridge < svr). h2 has no scored baseline: no row.
    assert best.to_dict("records") == [
        {
            "dataset": "d",
            "horizon": "h1",
            "method": "ridge",
            "feature_set": "indices",
            "fraction": 1.0,
            "mean": 0.5,
            "std": 0.25,
            "n_seeds": 3,
        }
    ]


def test_best_baseline_tie_does_not_depend_on_row_order(summary):
    shuffled = summary.iloc[::-1].reset_index(drop=True)
    assert best_by(shuffled).method.tolist() == ["ridge"]
    rng = np.random.default_rng(3)
    permuted = summary.iloc[rng.permutation(len(summary))].reset_index(drop=True)
    assert best_by(permuted).method.tolist() == ["ridge"]


def test_best_baseline_respects_fraction_protocol_stratum_and_prefix(summary):
    # 25 %: knn 0.875 beats ridge 0.0 (SpecTM's 0.5 is excluded)
    at25 = best_by(summary, fraction=0.25)
    assert at25[["method", "feature_set", "mean", "std"]].values.tolist() == [
        ["knn", "rrs", 0.875, 0.0]
    ]
    # next_season at 100 %: gbm 0.9375 (one seed, sd undefined) beats ridge -0.5
    ns = _one(best_by(summary, protocol="next_season"), horizon="h1")
    assert ns["method"] == "gbm" and ns["mean"] == 0.9375 and ns["n_seeds"] == 1
    assert math.isnan(ns["std"])
    # the <=24h stratum: only svr has rows there
    assert best_by(summary, dt_stratum="<=24h").method.tolist() == ["svr"]
    # without the spectm exclusion: targeted frozen 0.75 ties targeted full 0.75 and wins by
    # name ("frozen" < "full"); h2 now has SpecTM's 0.5
    incl = best_by(summary, exclude_prefix=None)
    assert incl[["horizon", "method", "mean"]].values.tolist() == [
        ["h1", "spectm_targeted_frozen", 0.75],
        ["h2", "spectm_targeted_frozen", 0.5],
    ]
    # lower is better: rf's 0.25 is the lowest seed mean at 100 %
    assert best_by(summary, higher_is_better=False).method.tolist() == ["rf"]


def test_best_baseline_all_nan_everywhere_is_an_error(summary):
    nan_only = summary[summary.horizon == "h2"]
    with pytest.raises(ValueError, match=r"no r2_log10 values at fraction 1\.0 \(date_cv\)"):
        best_by(nan_only)


def test_comparison_table_from_hand_made_summary(summary):
    comp = comparison_table(summary)
    # one row: h2 has no scored baseline, so nothing to compare there
    assert comp.horizon.tolist() == ["h1"]
    row = comp.iloc[0]
    assert row.best_baseline == "ridge (indices)"
    assert (row.best_baseline_r2_log10, row.best_baseline_r2_sd, row.n_seeds) == (0.5, 0.25, 3)
    assert (row.spectm_r2_log10, row.spectm_r2_sd) == (0.75, 0.125)
    # "h1" is not one of the paper's horizons: its numbers are absent, not borrowed
    assert math.isnan(row["paper_spectm_r2 (other data)"])
    assert math.isnan(row["paper_best_baseline_r2 (other data)"])


# ---------------------------------------------------------------- ablation


def test_ablation_targeted_random_none_by_mode_and_fraction(summary):
    abl = ablation_table(summary)
    got = abl[
        ["horizon", "mode", "fraction", "strategy", "mean", "std", "n_seeds",
         "n_pretrain_seeds", "n_split_seeds"]
    ].values.tolist()  # fmt: skip
    s2 = 0.25 / math.sqrt(2)  # sd of 0.875 and 0.625
    expected = [
        # 25 %: every replicate equal -> sd 0
        ["h1", "frozen", 0.25, "none", 0.125, 0.0, 4, 2, 2],
        ["h1", "frozen", 0.25, "random", 0.25, 0.0, 4, 2, 2],
        ["h1", "frozen", 0.25, "targeted", 0.5, 0.0, 4, 2, 2],
        # 100 %: none (0.1875 + 3 * 0.4375) / 4 = 0.375, deviations -0.1875, 0.0625 x 3 ->
        # sd 0.125; random 0.5, sd 0; targeted 0.75, sd 0.125 (next_season's -1.0 left out)
        ["h1", "frozen", 1.0, "none", 0.375, 0.125, 4, 2, 2],
        ["h1", "frozen", 1.0, "random", 0.5, 0.0, 4, 2, 2],
        ["h1", "frozen", 1.0, "targeted", 0.75, 0.125, 4, 2, 2],
        # full fine-tuning only at 100 % with one pretraining seed: (0.875 + 0.625) / 2
        ["h1", "full", 1.0, "targeted", 0.75, s2, 2, 1, 2],
        ["h2", "frozen", 1.0, "targeted", 0.5, 0.0, 2, 1, 2],
    ]
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert g[:4] == e[:4]
        assert g[4:6] == pytest.approx(e[4:6])
        assert g[6:] == e[6:]
    # no baseline (ridge, svr, knn, gbm, rf) reaches the ablation
    assert set(abl.strategy) == {"targeted", "random", "none"}


# ---------------------------------------------------------------- interval coverage


def test_interval_coverage_and_width_from_hand_made_summary(summary):
    iv = interval_table(summary, alpha=0.1)
    # 100 %, date_cv, stratum "all" only: 7 methods in h1, 2 in h2 (gbm: next_season only;
    # knn: 25 % only)
    assert iv[["horizon", "method"]].values.tolist() == [
        ["h1", "rf"],
        ["h1", "ridge"],
        ["h1", "spectm_none_frozen"],
        ["h1", "spectm_random_frozen"],
        ["h1", "spectm_targeted_frozen"],
        ["h1", "spectm_targeted_full"],
        ["h1", "svr"],
        ["h2", "ridge"],
        ["h2", "spectm_targeted_frozen"],
    ]
    assert iv.nominal.tolist() == [0.9] * 9
    ridge = _one(iv, horizon="h1", method="ridge")
    # replicates weigh equally: (0.75 + 0.875 + 1.0) / 3 = 0.875 (an n-weighted mean would be
    # (7.5 + 10.5 + 14) / 36 = 0.889); width median of 0.25, 0.5, 1.5 = 0.5; n 10 + 12 + 14
    assert ridge.coverage == 0.875
    assert ridge.width_log10 == 0.5
    assert ridge.n_predictions == 36
    # svr: (0.5 + 0.75 + 1.0) / 3 = 0.75; one unbounded replicate does not make the median
    # width infinite: median(0.25, inf, 0.5) = 0.5; its <=24h rows (coverage 0) left out
    svr = _one(iv, horizon="h1", method="svr")
    assert (svr.coverage, svr.width_log10, svr.n_predictions) == (0.75, 0.5, 30)
    # SpecTM: (0.5 + 0.75 + 0.75 + 1.0) / 4 = 0.75; median(0.125, 0.25, 0.375, 0.5) = 0.3125
    t = _one(iv, horizon="h1", method="spectm_targeted_frozen")
    assert (t.coverage, t.width_log10, t.n_predictions) == (0.75, 0.3125, 40)
    # h2 ridge: no interval scored -> NaN coverage, still counted rows
    h2 = _one(iv, horizon="h2", method="ridge")
    assert math.isnan(h2.coverage) and h2.n_predictions == 2
