"""Metric tables from prediction tables: one row per cell and replicate, with |dt| strata.

A replicate is one (pretraining seed, split seed): the baselines have one per split seed
(``pretrain_seed`` -1), SpecTM one per pretraining seed x split seed. Each replicate's test
predictions are pooled over its outer folds before scoring (every row is predicted once per
replicate and fraction under ``date_cv``; once per test season under ``next_season``), so R² is
computed on all out-of-fold predictions of that replicate.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from spectm.evaluate.conformal import empirical_coverage
from spectm.evaluate.metrics import regression_metrics
from spectm.evaluate.protocol import PREDICTION_COLUMNS

KEYS = PREDICTION_COLUMNS[: PREDICTION_COLUMNS.index("seed") + 1]
"""Columns identifying one summary row (before the stratum): a cell and a replicate (dataset,
protocol, method, horizon, feature_set, fraction, pretrain_seed, seed: the predictions table's
leading columns)."""

REPLICATE = ("pretrain_seed", "seed")
"""The columns that tell a cell's replicates apart."""

CELL = tuple(k for k in KEYS if k not in REPLICATE)
"""The columns identifying one cell (replicates pooled)."""

DT_STRATA = ("all", "<=24h", "24-48h", "48-96h", ">96h", "unknown")
"""|dt| strata between spectrum and label time; ``>96h`` catches rows outside the ±4-day window."""

_NEEDED = (*KEYS, "fold", "y_true_log10", "y_pred_log10", "pi_lo_log10", "pi_hi_log10")


def dt_stratum(abs_dt_hours: pd.Series | np.ndarray) -> np.ndarray:
    """Stratum label per row from ``|dt|`` (hours).

    Returns:
        ``<=24h``, ``24-48h``, ``48-96h``, ``>96h`` or ``unknown`` (NaN), shape ``(n,)``.
    """
    dt = np.abs(np.asarray(abs_dt_hours, dtype=float))
    return np.select(
        [np.isnan(dt), dt <= 24, dt <= 48, dt <= 96],
        ["unknown", "<=24h", "24-48h", "48-96h"],
        default=">96h",
    )


def with_protocol_columns(predictions: pd.DataFrame) -> pd.DataFrame:
    """A copy with ``protocol`` (``date_cv``) and ``pretrain_seed`` (-1) filled in when absent.

    Prediction tables written before these columns existed stay readable.
    """
    p = predictions.copy()
    if "protocol" not in p.columns:
        p["protocol"] = "date_cv"
    if "pretrain_seed" not in p.columns:
        p["pretrain_seed"] = -1
    return p


def _score(g: pd.DataFrame) -> dict[str, float]:
    y = g["y_true_log10"].to_numpy(dtype=float)
    lo = g["pi_lo_log10"].to_numpy(dtype=float)
    hi = g["pi_hi_log10"].to_numpy(dtype=float)
    out = regression_metrics(y, g["y_pred_log10"].to_numpy(dtype=float))
    width = hi - lo
    ok = ~np.isnan(width)
    out["pi_coverage"] = empirical_coverage(y, lo, hi)
    out["pi_width_log10"] = float(np.mean(width[ok])) if ok.any() else float("nan")
    out["pi_finite_frac"] = float(np.mean(np.isfinite(width[ok]))) if ok.any() else float("nan")
    out["n_folds"] = float(g["fold"].nunique())
    return out


def summarise(predictions: pd.DataFrame) -> pd.DataFrame:
    """Score a predictions table per dataset x method x horizon x feature set x fraction x seed.

    Args:
        predictions: Rows in the predictions contract (see
            :data:`spectm.evaluate.baselines.PREDICTION_COLUMNS`); ``abs_dt_hours`` optional.

    Returns:
        One row per cell and stratum: the :data:`KEYS`, ``dt_stratum`` (``all`` always; the
        others only when they hold predictions), ``n`` and every ``regression_metrics`` key
        (``r2_log10``, ``rmse_linear``, ...), ``pi_coverage`` (fraction of truths inside the
        interval), ``pi_width_log10`` (mean interval width, log10 units; ``inf`` when any interval
        is unbounded), ``pi_finite_frac`` and ``n_folds``.
    """
    missing = [c for c in _NEEDED if c not in with_protocol_columns(predictions.head(0)).columns]
    if missing:
        raise ValueError(f"predictions table lacks column(s) {missing}")
    p = with_protocol_columns(predictions)
    dt = p["abs_dt_hours"] if "abs_dt_hours" in p.columns else np.full(len(p), np.nan)
    p["dt_stratum"] = dt_stratum(dt)
    rows = []
    for key, g in p.groupby(list(KEYS), sort=True, dropna=False):
        base = dict(zip(KEYS, key, strict=True))
        rows.append({**base, "dt_stratum": "all", **_score(g)})
        for stratum, gs in g.groupby("dt_stratum", sort=False):
            rows.append({**base, "dt_stratum": stratum, **_score(gs)})
    out = pd.DataFrame(rows)
    if out.empty:
        return out
    out["dt_stratum"] = pd.Categorical(out["dt_stratum"], categories=list(DT_STRATA))
    out = out.sort_values([*KEYS, "dt_stratum"], kind="stable").reset_index(drop=True)
    out["dt_stratum"] = out["dt_stratum"].astype(str)
    out["n"] = out["n"].astype(int)
    out["n_folds"] = out["n_folds"].astype(int)
    return out


def seed_mean(
    summary: pd.DataFrame,
    *,
    metric: str = "r2_log10",
    dt_stratum: str = "all",
    protocol: str | None = "date_cv",
) -> pd.DataFrame:
    """Mean and standard deviation of ``metric`` over replicates (pretraining x split seeds).

    Args:
        summary: Output of :func:`summarise`.
        metric: Metric column.
        dt_stratum: Stratum.
        protocol: Only this protocol (None = every protocol, ``protocol`` kept as a key).

    Returns:
        Columns ``dataset, protocol, method, horizon, feature_set, fraction, mean, std, n_seeds``
        (``n_seeds``: replicates), ``n_pretrain_seeds`` and ``n_split_seeds``.
    """
    if metric not in summary.columns:
        raise ValueError(f"summary has no metric column {metric!r}")
    s = with_protocol_columns(summary)
    s = s[s["dt_stratum"] == dt_stratum]
    if protocol is not None:
        s = s[s["protocol"] == protocol]
    g = s.groupby(list(CELL), sort=True)
    agg = g[metric].agg(["mean", "std", "count"]).reset_index()
    agg["n_pretrain_seeds"] = g["pretrain_seed"].nunique().to_numpy()
    agg["n_split_seeds"] = g["seed"].nunique().to_numpy()
    return agg.rename(columns={"count": "n_seeds"})


def best_by(
    summary: pd.DataFrame,
    *,
    metric: str = "r2_log10",
    fraction: float = 1.0,
    dt_stratum: str = "all",
    protocol: str = "date_cv",
    methods: Sequence[str] | None = None,
    exclude_prefix: str | None = "spectm",
    higher_is_better: bool = True,
) -> pd.DataFrame:
    """The best method x feature set per dataset x horizon by the seed-mean of ``metric``.

    Args:
        summary: Output of :func:`summarise`.
        metric: Metric column to rank by.
        fraction: Label fraction to rank at.
        dt_stratum: Stratum to rank on.
        protocol: Protocol to rank under.
        methods: Only these methods (default: all).
        exclude_prefix: Drop methods starting with it (default ``spectm``: the best *baseline*).
        higher_is_better: False for errors (RMSE, MAE).

    Returns:
        One row per dataset x horizon: ``dataset, horizon, method, feature_set, fraction, mean,
        std, n_seeds``.
    """
    m = seed_mean(summary, metric=metric, dt_stratum=dt_stratum, protocol=protocol)
    m = m[np.isclose(m["fraction"].to_numpy(dtype=float), fraction)]
    if methods is not None:
        m = m[m["method"].isin(list(methods))]
    if exclude_prefix:
        m = m[~m["method"].astype(str).str.startswith(exclude_prefix)]
    m = m.dropna(subset=["mean"])
    if m.empty:
        raise ValueError(
            f"no {metric} values at fraction {fraction} ({protocol}) for the requested methods"
        )
    m = m.sort_values("mean", ascending=not higher_is_better, kind="stable")
    best = m.groupby(["dataset", "horizon"], sort=True).head(1)
    cols = ["dataset", "horizon", "method", "feature_set", "fraction", "mean", "std", "n_seeds"]
    return best[cols].sort_values(["dataset", "horizon"]).reset_index(drop=True)
