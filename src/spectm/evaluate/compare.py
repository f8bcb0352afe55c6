"""Paired comparisons of two methods on the same outer test rows, and the sentences they justify.

A comparison is ``A - B`` of the replicate-mean R² (log10) of two methods in one cell (dataset,
horizon, protocol, label fraction). Both methods predicted the same rows in the same outer folds
(the shared protocol): under ``date_cv`` every row once per replicate, under ``next_season`` every
row of the test seasons. A replicate is one (pretraining seed, split seed); a method's value is
the mean over its replicates of the R² of its pooled out-of-fold predictions, exactly the
``mean`` of :func:`spectm.evaluate.summary.seed_mean`.

The interval is a paired cluster bootstrap over sampling dates: each resample draws the cell's
sampling dates with replacement, weights every row by how often its date was drawn, recomputes
both methods' replicate-mean R² on those weights, and takes their difference; the interval is the
central ``level`` percentile interval of the differences. Dates are the unit because samples of
one cruise day share water, weather and overpass (they are not independent), and resampling
them keeps the pairing: both methods always see the same resampled rows. The verdict is ``A
better`` (interval above 0), ``B better`` (below 0) or ``not distinguishable`` (it covers 0),
and the report's sentences are generated from it (:func:`sentence`), never written by hand.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from spectm.evaluate.summary import REPLICATE, with_protocol_columns

LEVEL = 0.95
"""Confidence level of the bootstrap intervals."""

PROTOCOL_WORDS = {
    "date_cv": "date-grouped CV",
    "next_season": "next season (train on earlier seasons)",
}
"""How the sentences name the protocols."""


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
    """One paired comparison ``a - b`` of replicate-mean R² (log10).

    Attributes:
        dataset: Dataset.
        horizon: Horizon.
        protocol: ``date_cv`` or ``next_season``.
        fraction: Label fraction.
        what: What is compared (e.g. ``SpecTM vs best baseline``, ``targeted vs random``).
        a: Label of method A.
        b: Label of method B.
        a_mean: A's mean R² over its replicates.
        a_sd: Its standard deviation over replicates (NaN with one).
        a_replicates: A's replicates.
        b_mean: B's mean R².
        b_sd: B's standard deviation over replicates.
        b_replicates: B's replicates.
        diff: ``a_mean - b_mean`` on the common rows.
        lo: Lower bound of the bootstrap interval of ``diff``.
        hi: Upper bound.
        n_rows: Test rows both methods predicted.
        n_dates: Their sampling dates (the bootstrap units).
        verdict: ``a better``, ``b better`` or ``not distinguishable``.

    """

    dataset: str
    horizon: str
    protocol: str
    fraction: float
    what: str
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


def _replicate_matrix(rows: pd.DataFrame, row_ids: np.ndarray) -> np.ndarray:
    """Predictions (n_replicates, n_rows) of one method, columns in ``row_ids`` order."""
    wide = rows.pivot_table(
        index=list(REPLICATE), columns="row_id", values="y_pred_log10", aggfunc="mean"
    )
    return wide.reindex(columns=row_ids).to_numpy(dtype=float)


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
    n_boot: int,
    level: float = LEVEL,
    seed: int = 0,
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
        n_boot: Bootstrap resamples.
        level: Confidence level of the interval.
        seed: Seed of the resampling (the same seed gives the same interval).

    Returns:
        The :class:`Comparison`.

    Raises:
        ValueError: when either method has no predictions in the cell, or they share no row.

    """
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
    pa = _replicate_matrix(parts["a"], row_ids)  # (r_a, n)
    pb = _replicate_matrix(parts["b"], row_ids)  # (r_b, n)
    pa, pb = pa[np.isfinite(pa).all(axis=1)], pb[np.isfinite(pb).all(axis=1)]
    dates = common["date"].astype(str).to_numpy()
    unique, date_index = np.unique(dates, return_inverse=True)
    ones = np.ones((1, y.size))
    r2a, r2b = _weighted_r2(ones, y, pa)[0], _weighted_r2(ones, y, pb)[0]  # (r_a,), (r_b,)
    rng = np.random.default_rng([seed, 20_26])
    draws = rng.integers(0, unique.size, size=(n_boot, unique.size))  # dates drawn
    counts = np.zeros((n_boot, unique.size))
    np.add.at(counts, (np.repeat(np.arange(n_boot), unique.size), draws.ravel()), 1.0)
    weights = counts[:, date_index]  # (B, n): each row weighted by its date's draws
    boot = np.nanmean(_weighted_r2(weights, y, pa), axis=1) - np.nanmean(
        _weighted_r2(weights, y, pb), axis=1
    )
    boot = boot[np.isfinite(boot)]
    tail = (1.0 - level) / 2.0 * 100.0
    lo, hi = np.percentile(boot, [tail, 100.0 - tail]) if boot.size else (np.nan, np.nan)
    verdict = "not distinguishable"
    if lo > 0:
        verdict = "a better"
    elif hi < 0:
        verdict = "b better"
    return Comparison(
        dataset=dataset,
        horizon=horizon,
        protocol=protocol,
        fraction=float(fraction),
        what=what,
        a=a.label,
        b=b.label,
        a_mean=float(np.mean(r2a)),
        a_sd=float(np.std(r2a, ddof=1)) if r2a.size > 1 else float("nan"),
        a_replicates=int(r2a.size),
        b_mean=float(np.mean(r2b)),
        b_sd=float(np.std(r2b, ddof=1)) if r2b.size > 1 else float("nan"),
        b_replicates=int(r2b.size),
        diff=float(np.mean(r2a) - np.mean(r2b)),
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
        f"{c.a} R² {_pm(c.a_mean, c.a_sd)} (n={c.a_replicates}) vs {c.b} "
        f"{_pm(c.b_mean, c.b_sd)} (n={c.b_replicates})"
    )
    interval = (
        f"difference {c.diff:+.3f}, {LEVEL:.0%} bootstrap interval over {c.n_dates} sampling "
        f"dates [{c.lo:+.3f}, {c.hi:+.3f}]"
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
