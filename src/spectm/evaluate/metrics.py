"""Regression metrics in log10 and linear units.

Microcystin is heavily skewed (median ~0.15 ug/L), so models are fit and scored on log10; linear
metrics are computed after back-transforming both truth and prediction with ``10**y``.
"""

from __future__ import annotations

import numpy as np

METRIC_NAMES = ("r2", "rmse", "mae", "bias", "slope", "intercept", "pearson", "spearman")


def average_ranks(a: np.ndarray) -> np.ndarray:
    """Ranks 1..n of ``a`` with ties given their mean rank (``scipy.stats.rankdata`` default).

    The summary scores thousands of small groups; scipy's per-call overhead dominated the
    metrics job, so the closed forms here replace ``linregress``/``pearsonr``/``spearmanr``
    (a test checks them against scipy).
    """
    a = np.asarray(a, dtype=float)
    order = np.argsort(a, kind="mergesort")
    s = a[order]
    edges = np.flatnonzero(np.r_[True, s[1:] != s[:-1], True])  # starts of tie runs, then n
    mean_rank = (edges[:-1] + edges[1:] + 1) / 2.0  # mean of the 1-based ranks of each run
    ranks = np.empty(a.size)
    ranks[order] = np.repeat(mean_rank, np.diff(edges))
    return ranks


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    da, db = a - a.mean(), b - b.mean()
    return float(np.clip(np.sum(da * db) / np.sqrt(np.sum(da**2) * np.sum(db**2)), -1.0, 1.0))


def _metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    resid = p - y
    ss_res = float(np.sum(resid**2))
    ss_tot = float(np.sum((y - y.mean()) ** 2))
    out = {
        "r2": 1.0 - ss_res / ss_tot if ss_tot > 0 else float("nan"),
        "rmse": float(np.sqrt(np.mean(resid**2))),
        "mae": float(np.mean(np.abs(resid))),
        "bias": float(np.mean(resid)),
    }
    if y.size >= 3 and np.std(y) > 0 and np.std(p) > 0:
        dy = y - y.mean()
        slope = float(np.sum(dy * (p - p.mean())) / np.sum(dy**2))  # prediction on truth (OLS)
        out["slope"], out["intercept"] = slope, float(p.mean() - slope * y.mean())
        out["pearson"] = _pearson(y, p)
        out["spearman"] = _pearson(average_ranks(y), average_ranks(p))
    else:
        out.update(slope=np.nan, intercept=np.nan, pearson=np.nan, spearman=np.nan)
    return out


def regression_metrics(y_true_log10: np.ndarray, y_pred_log10: np.ndarray) -> dict[str, float]:
    """R², RMSE, MAE, bias, slope, intercept, Pearson r and Spearman rho.

    Args:
        y_true_log10: Observed log10 concentrations, shape ``(n,)``.
        y_pred_log10: Predicted log10 concentrations, shape ``(n,)``.

    Returns:
        Keys ``<metric>_log10`` and ``<metric>_linear`` for every name in ``METRIC_NAMES``,
        plus ``n``. Slope/intercept are of prediction regressed on truth.
    """
    y = np.asarray(y_true_log10, dtype=float)
    p = np.asarray(y_pred_log10, dtype=float)
    if y.shape != p.shape:
        raise ValueError(f"shape mismatch: truth {y.shape} vs prediction {p.shape}")
    ok = np.isfinite(y) & np.isfinite(p)
    y, p = y[ok], p[ok]
    out: dict[str, float] = {"n": float(y.size)}
    for suffix, (a, b) in {"log10": (y, p), "linear": (10.0**y, 10.0**p)}.items():
        for k, v in _metrics(a, b).items():
            out[f"{k}_{suffix}"] = v
    return out
