"""Paired comparisons of two methods on the same outer test rows, and the sentences they justify.

A comparison is ``A - B`` of the replicate-mean score of two methods in one cell (dataset,
horizon, protocol, label fraction). The score is R² (log10) under ``date_cv`` and RMSE (log10)
under ``next_season`` (:data:`PROTOCOL_METRIC`): a next season's test rows can be one pre-bloom
spring whose labels barely vary (the shipped table's 2025 rows are 15 samples at the detection
limit), where R² is undefined or dominated by a tiny denominator, while the error in log10 units
still says which model is closer. Both methods predicted the same rows in the same outer folds
(the shared protocol): under ``date_cv`` every row once per replicate, under ``next_season`` every
row of the test seasons. A replicate is one (pretraining seed, split seed); a method's value is
the mean over its replicates of the score of its pooled out-of-fold predictions (for R², exactly
the ``mean`` of :func:`spectm.evaluate.summary.seed_mean`).

The interval is a paired cluster bootstrap over sampling dates and pretraining runs: each
resample draws the cell's sampling dates with replacement and weights every row by how often its
date was drawn, draws each method's pretraining runs (``pretrain_seed``) with replacement (their
deviations widened by sqrt(k / (k - 1)) for k runs, :func:`_resampled_run_mean`), recomputes both
methods' mean score on those draws, and takes their difference; the interval is the
central ``level`` percentile interval of the differences. Dates are the unit because samples of
one cruise day share water, weather and overpass (they are not independent), and resampling
them keeps the pairing: both methods always see the same resampled rows. Runs are the second
unit because one pretraining run is one draw of the encoder: floating-point differences between
machines move a run enough to change a single-run conclusion, and an interval that holds the
runs fixed would not cover that (the baselines have one "run", -1, and are not resampled).
The verdict is ``A better`` (interval above 0 for R², below 0 for RMSE), ``B better`` (the
other side), ``not distinguishable`` (it covers 0), or ``too few dates`` when the cell's test
rows come from fewer than :data:`MIN_DATES` sampling dates (then there is no interval: with one
test date, as in a 2024 -> 2025 next season of the bundled data, no statement about the
difference is justified), and the report's sentences are generated from it (:func:`sentence`),
never written by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from spectm.evaluate.summary import REPLICATE, with_protocol_columns

LEVEL = 0.95
"""Confidence level of the bootstrap intervals."""

MIN_DATES = 5
"""Fewest test sampling dates for an interval and a verdict: with n dates a date bootstrap has
at most C(2n-1, n) distinct resamples (35 for 4 dates, 126 for 5), too few below that for a 95 %
percentile interval to mean anything."""

PROTOCOL_WORDS = {
    "date_cv": "date-grouped CV",
    "next_season": "next season (train on earlier seasons)",
}
"""How the sentences name the protocols."""

PROTOCOL_METRIC = {"date_cv": "r2_log10", "next_season": "rmse_log10"}
"""The score each protocol's comparisons use (see the module docstring)."""


@dataclass(frozen=True)
class MethodKey:
    """A method as the predictions table names it: ``method`` and ``feature_set``."""

    method: str
    feature_set: str

    @property
    def label(self) -> str:
        """``method (feature_set)``."""
        return f"{self.method} ({self.feature_set})"


@dataclass(frozen=True)
class Comparison:
    """One paired comparison ``a - b`` of a replicate-mean score (``metric``).

    Attributes:
        dataset: Dataset.
        horizon: Horizon.
        protocol: ``date_cv`` or ``next_season``.
        fraction: Label fraction.
        what: What is compared (e.g. ``SpecTM vs best baseline``, ``targeted vs random``).
        metric: The score, a key of :data:`METRICS` (``r2_log10`` or ``rmse_log10``).
        a: Label of method A.
        b: Label of method B.
        a_mean: A's mean score over its replicates.
        a_sd: Its standard deviation over replicates (NaN with one).
        a_replicates: A's replicates.
        b_mean: B's mean score.
        b_sd: B's standard deviation over replicates.
        b_replicates: B's replicates.
        diff: ``a_mean - b_mean`` on the common rows.
        lo: Lower bound of the bootstrap interval of ``diff``.
        hi: Upper bound.
        n_rows: Test rows both methods predicted.
        n_dates: Their sampling dates (the bootstrap units).
        verdict: ``a better``, ``b better``, ``not distinguishable`` or ``too few dates``
            (fewer than :data:`MIN_DATES` test sampling dates; ``lo``/``hi`` NaN).

    """

    dataset: str
    horizon: str
    protocol: str
    fraction: float
    what: str
    metric: str
    a: str
    b: str
    a_mean: float
    a_sd: float
    a_replicates: int
    b_mean: float
    b_sd: float
    b_replicates: int
    diff: float
    lo: float
    hi: float
    n_rows: int
    n_dates: int
    verdict: str


def _replicate_matrix(rows: pd.DataFrame, row_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One method's predictions (n_replicates, n_rows) and pretraining seeds (n_replicates,).

    Columns follow ``row_ids``; replicates with a missing prediction are dropped.
    """
    wide = rows.pivot_table(
        index=list(REPLICATE), columns="row_id", values="y_pred_log10", aggfunc="mean"
    )
    mat = wide.reindex(columns=row_ids).to_numpy(dtype=float)
    runs = wide.index.get_level_values("pretrain_seed").to_numpy()
    keep = np.isfinite(mat).all(axis=1)
    return mat[keep], runs[keep]


def _resampled_run_mean(
    scores: np.ndarray, runs: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Per resample, the mean score over pretraining runs drawn with replacement; shape (B,).

    ``scores`` (B, r) are one method's replicate scores on each date resample, ``runs`` (r,) the
    replicates' pretraining seeds. Each run's score is the mean of its replicates (split seeds);
    with k >= 2 runs their deviations from the mean of the runs are widened by sqrt(k / (k - 1))
    before k of them are drawn with replacement, so that the resampled mean has the variance
    s^2 / k of the usual standard error instead of the plain bootstrap's (k - 1) / k of it (the
    variance of the mean of k draws with replacement from k values is (k - 1) / k * s^2 / k; with
    3 runs the plain bootstrap's spread is 0.82 of the standard error). A method with one run
    (a baseline, ``pretrain_seed`` -1) is the mean of its replicates.
    """
    unique, index = np.unique(runs, return_inverse=True)
    k = unique.size
    ok = np.isfinite(scores)
    per_run = np.full((scores.shape[0], k), np.nan)
    for j in range(k):
        cols = index == j
        n = ok[:, cols].sum(axis=1)
        total = np.where(ok[:, cols], scores[:, cols], 0.0).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            per_run[:, j] = np.where(n > 0, total / np.maximum(n, 1), np.nan)
    if k == 1:
        return per_run[:, 0]
    centre = per_run.mean(axis=1, keepdims=True)  # NaN where a run has no finite score
    widened = centre + (per_run - centre) * np.sqrt(k / (k - 1))
    draws = rng.integers(0, k, size=(scores.shape[0], k))
    return np.take_along_axis(widened, draws, axis=1).mean(axis=1)


def _weighted_r2(weights: np.ndarray, y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """R² per resample and replicate: weights (B, n), y (n,), pred (r, n) -> (B, r)."""
    wsum = weights.sum(axis=1)  # (B,)
    ybar = weights @ y / wsum  # (B,)
    sst = weights @ (y**2) - wsum * ybar**2  # (B,)
    sse = weights @ ((pred - y[None, :]) ** 2).T  # (B, r)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = 1.0 - sse / sst[:, None]
    r2[~(sst > 1e-12 * np.maximum(wsum, 1.0))] = np.nan  # a resample of one target value
    return r2


def _weighted_rmse(weights: np.ndarray, y: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """RMSE per resample and replicate: weights (B, n), y (n,), pred (r, n) -> (B, r)."""
    sse = weights @ ((pred - y[None, :]) ** 2).T  # (B, r)
    return np.sqrt(sse / weights.sum(axis=1)[:, None])


METRICS = {
    "r2_log10": ("R²", True, _weighted_r2),
    "rmse_log10": ("RMSE (log10)", False, _weighted_rmse),
}
"""Comparison scores: name in the sentences, whether higher is better, weighted score."""


def _interval(
    y: np.ndarray,
    pa: np.ndarray,
    pb: np.ndarray,
    runs_a: np.ndarray,
    runs_b: np.ndarray,
    date_index: np.ndarray,
    n_dates: int,
    score: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray],
    n_boot: int,
    level: float,
    seed: int,
) -> tuple[float, float]:
    """The bootstrap percentile interval of the difference (see the module docstring)."""
    rng = np.random.default_rng([seed, 20_26])
    draws = rng.integers(0, n_dates, size=(n_boot, n_dates))  # dates drawn
    counts = np.zeros((n_boot, n_dates))
    np.add.at(counts, (np.repeat(np.arange(n_boot), n_dates), draws.ravel()), 1.0)
    weights = counts[:, date_index]  # (B, n): each row weighted by its date's draws
    boot = _resampled_run_mean(score(weights, y, pa), runs_a, rng) - _resampled_run_mean(
        score(weights, y, pb), runs_b, rng
    )
    boot = boot[np.isfinite(boot)]
    if not boot.size:
        return np.nan, np.nan
    tail = (1.0 - level) / 2.0 * 100.0
    lo, hi = np.percentile(boot, [tail, 100.0 - tail])
    return float(lo), float(hi)


def paired_difference(
    predictions: pd.DataFrame,
    a: MethodKey,
    b: MethodKey,
    *,
    dataset: str,
    horizon: str,
    fraction: float,
    protocol: str = "date_cv",
    what: str = "",
    metric: str | None = None,
    n_boot: int,
    level: float = LEVEL,
    seed: int = 0,
    min_dates: int = MIN_DATES,
) -> Comparison:
    """Compare two methods in one cell by a paired bootstrap over sampling dates.

    Args:
        predictions: Rows of the predictions table (both methods, any other rows too).
        a: Method A.
        b: Method B.
        dataset: Dataset of the cell.
        horizon: Horizon of the cell.
        fraction: Label fraction of the cell.
        protocol: Protocol of the cell.
        what: What the comparison is, for the table and the sentence.
        metric: ``r2_log10`` or ``rmse_log10``; default :data:`PROTOCOL_METRIC` of the protocol.
        n_boot: Bootstrap resamples.
        level: Confidence level of the interval.
        seed: Seed of the resampling (the same seed gives the same interval).
        min_dates: Fewest test sampling dates for an interval and a verdict.

    Returns:
        The :class:`Comparison`.

    Raises:
        ValueError: when either method has no predictions in the cell, or they share no row.

    """
    metric = metric or PROTOCOL_METRIC.get(protocol, "r2_log10")
    if metric not in METRICS:
        raise ValueError(f"unknown comparison metric {metric!r}; expected one of {list(METRICS)}")
    _, higher_better, score = METRICS[metric]
    p = with_protocol_columns(predictions)
    cell = p[
        (p["dataset"] == dataset)
        & (p["horizon"] == horizon)
        & (p["protocol"] == protocol)
        & np.isclose(p["fraction"].to_numpy(dtype=float), fraction)
    ]
    parts = {}
    for name, key in (("a", a), ("b", b)):
        rows = cell[(cell["method"] == key.method) & (cell["feature_set"] == key.feature_set)]
        if rows.empty:
            raise ValueError(
                f"no predictions of {key.label} for {dataset}/{horizon} ({protocol}, fraction "
                f"{fraction})"
            )
        parts[name] = rows
    ids_a = set(parts["a"]["row_id"])
    common = parts["b"][parts["b"]["row_id"].isin(ids_a)].drop_duplicates("row_id")
    if common.empty:
        raise ValueError(f"{a.label} and {b.label} share no test row in {dataset}/{horizon}")
    common = common.sort_values("row_id", kind="stable")
    row_ids = common["row_id"].to_numpy()
    y = common["y_true_log10"].to_numpy(dtype=float)
    pa, runs_a = _replicate_matrix(parts["a"], row_ids)  # (r_a, n), (r_a,)
    pb, runs_b = _replicate_matrix(parts["b"], row_ids)  # (r_b, n), (r_b,)
    dates = common["date"].astype(str).to_numpy()
    unique, date_index = np.unique(dates, return_inverse=True)
    ones = np.ones((1, y.size))
    sa, sb = score(ones, y, pa)[0], score(ones, y, pb)[0]  # (r_a,), (r_b,)
    lo, hi, verdict = np.nan, np.nan, "too few dates"
    if unique.size >= min_dates:
        lo, hi = _interval(
            y, pa, pb, runs_a, runs_b, date_index, unique.size, score, n_boot, level, seed
        )
        verdict = "not distinguishable"
    if lo > 0:
        verdict = "a better" if higher_better else "b better"
    elif hi < 0:
        verdict = "b better" if higher_better else "a better"
    return Comparison(
        dataset=dataset,
        horizon=horizon,
        protocol=protocol,
        fraction=float(fraction),
        what=what,
        metric=metric,
        a=a.label,
        b=b.label,
        a_mean=float(np.mean(sa)),
        a_sd=float(np.std(sa, ddof=1)) if sa.size > 1 else float("nan"),
        a_replicates=int(sa.size),
        b_mean=float(np.mean(sb)),
        b_sd=float(np.std(sb, ddof=1)) if sb.size > 1 else float("nan"),
        b_replicates=int(sb.size),
        diff=float(np.mean(sa) - np.mean(sb)),
        lo=float(lo),
        hi=float(hi),
        n_rows=int(y.size),
        n_dates=int(unique.size),
        verdict=verdict,
    )


def _pm(mean: float, sd: float) -> str:
    return f"{mean:.2f}" if not np.isfinite(sd) else f"{mean:.2f} ± {sd:.2f}"


def sentence(c: Comparison) -> str:
    """One generated sentence stating a comparison, its interval and its verdict."""
    where = (
        f"{c.dataset} · {c.horizon}, {PROTOCOL_WORDS.get(c.protocol, c.protocol)}, "
        f"{c.fraction:.0%} labels"
    )
    values = (
        f"{c.a} {METRICS[c.metric][0]} {_pm(c.a_mean, c.a_sd)} (n={c.a_replicates}) vs {c.b} "
        f"{_pm(c.b_mean, c.b_sd)} (n={c.b_replicates})"
    )
    interval = (
        f"difference {c.diff:+.3f}, {LEVEL:.0%} bootstrap interval over {c.n_dates} sampling "
        f"dates [{c.lo:+.3f}, {c.hi:+.3f}]"
    )
    if c.verdict == "too few dates":
        return (
            f"{where}: {values}; difference {c.diff:+.3f} on {c.n_rows} test rows from only "
            f"{c.n_dates} sampling date(s): too few for an interval, so no verdict."
        )
    if c.verdict == "a better":
        claim = f"{c.a} is better"
    elif c.verdict == "b better":
        claim = f"{c.b} is better"
    else:
        claim = "the two are not distinguishable"
    return f"{where}: {values}; {interval}: {claim}."


def comparisons_table(comparisons: Sequence[Comparison]) -> pd.DataFrame:
    """Comparisons as a table, one row each, with the generated sentence."""
    rows = [{**asdict(c), "sentence": sentence(c)} for c in comparisons]
    cols = [*Comparison.__dataclass_fields__, "sentence"]
    return pd.DataFrame(rows, columns=cols)
