"""Split-conformal prediction intervals and their empirical coverage.

Method (split conformal, Lei et al. 2018): hold out a calibration part of the training data,
take the absolute residuals ``|y - f(x)|`` of the model fitted on the rest, and use their
``ceil((n + 1)(1 - alpha)) / n`` empirical quantile ``q`` as a symmetric half-width: the interval
``[f(x) - q, f(x) + q]`` covers a new exchangeable point with probability >= 1 - alpha.
Intervals are built in log10 units, where residuals are closer to exchangeable.
"""

from __future__ import annotations

import math

import numpy as np


def conformal_halfwidth(abs_residuals: np.ndarray, *, alpha: float) -> float:
    """Half-width ``q`` from calibration absolute residuals for miscoverage ``alpha``.

    Returns ``inf`` when the calibration set is too small for the requested level
    (``ceil((n+1)(1-alpha)) > n``): an honest interval then has no finite bound.
    """
    r = np.sort(np.asarray(abs_residuals, dtype=float)[np.isfinite(abs_residuals)])
    n = r.size
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    k = math.ceil((n + 1) * (1 - alpha))
    if n == 0 or k > n:
        return float("inf")
    return float(r[k - 1])


def empirical_coverage(y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    """Fraction of ``y`` inside ``[lo, hi]`` (NaNs ignored)."""
    y, lo, hi = (np.asarray(a, dtype=float) for a in (y, lo, hi))
    ok = np.isfinite(y) & ~np.isnan(lo) & ~np.isnan(hi)
    if not ok.any():
        return float("nan")
    return float(np.mean((y[ok] >= lo[ok]) & (y[ok] <= hi[ok])))
