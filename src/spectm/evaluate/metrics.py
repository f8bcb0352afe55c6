"""Regression metrics in log10 and linear units.

Microcystin is heavily skewed (median ~0.15 ug/L), so models are fit and scored on log10; linear
metrics are computed after back-transforming both truth and prediction with ``10**y``.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

METRIC_NAMES = ("r2", "rmse", "mae", "bias", "slope", "intercept", "pearson", "spearman")


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    # closed forms here and for the slope: the summary scores thousands of small groups and the
    # per-call overhead of scipy's linregress/pearsonr/spearmanr dominated the metrics job
    # (tests check the values against scipy)
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
        out["spearman"] = _pearson(rankdata(y), rankdata(p))  # average ranks for ties
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
