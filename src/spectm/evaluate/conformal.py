"""Split-conformal prediction intervals and their empirical coverage.

Method (split conformal, Lei et al. 2018): hold out a calibration part of the training data,
take the absolute residuals ``|y - f(x)|`` of the model fitted on the rest, and use their
``ceil((n + 1)(1 - alpha)) / n`` empirical quantile ``q`` as a symmetric half-width: the interval
``[f(x) - q, f(x) + q]`` covers a new exchangeable point with probability >= 1 - alpha.
Intervals are built in log10 units, where residuals are closer to exchangeable.

Small calibration sets: the rank ``k = ceil((n + 1)(1 - alpha))`` exceeds ``n`` when
``n < 1/alpha - 1`` (fewer than 9 residuals at ``alpha = 0.1``). Strictly, no finite half-width
then has the guarantee (``small_n="inf"``, the default of :func:`conformal_halfwidth`). The
evaluation protocol uses ``small_n="max"`` (:data:`PROTOCOL_SMALL_N`): the largest residual, the
highest rank there is. Its nominal coverage is not guaranteed (it is at least ``n / (n + 1)``
for exchangeable residuals, below ``1 - alpha``); empirical coverage is reported anyway. Without
any residual (``n = 0``) the half-width is ``inf`` in both modes: there is nothing to calibrate on.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

SMALL_N = ("inf", "max")
"""What :func:`conformal_halfwidth` returns when the rank exceeds the number of residuals."""

PROTOCOL_SMALL_N: Literal["max"] = "max"
"""The evaluation protocol's choice (baselines, SpecTM probe and fine-tuning): the largest one."""

_RANK_RTOL = 1e-12
"""Relative slack on ``(n + 1)(1 - alpha)`` before ``ceil``: ``alpha = 0.7, n = 9`` is rank 3
(``10 * 0.3``), not the 4 that the float product ``3.0000000000000004`` would give."""


def conformal_rank(n: int, *, alpha: float) -> int:
    """The order statistic ``k = ceil((n + 1)(1 - alpha))`` of split conformal (1-based).

    Args:
        n: Number of calibration residuals (>= 0).
        alpha: Miscoverage, in (0, 1).

    Returns:
        ``k`` in ``[1, n + 1]``; ``k = n + 1`` means the level needs more residuals than there are.

    Raises:
        ValueError: when ``alpha`` is outside (0, 1) or ``n`` is negative.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    if n < 0:
        raise ValueError(f"number of residuals must be >= 0, got {n}")
    return max(1, math.ceil((n + 1) * (1 - alpha) * (1 - _RANK_RTOL)))


def conformal_halfwidth(
    abs_residuals: np.ndarray, *, alpha: float, small_n: Literal["inf", "max"] = "inf"
) -> float:
    """Half-width ``q`` from calibration absolute residuals for miscoverage ``alpha``.

    Non-finite residuals are ignored. With ``n`` residuals left, ``q`` is the
    :func:`conformal_rank`-th smallest.

    Args:
        abs_residuals: Absolute calibration residuals, shape ``(n,)`` (log10 units).
        alpha: Miscoverage (interval level ``1 - alpha``), in (0, 1).
        small_n: When the rank exceeds ``n`` (``n < 1/alpha - 1``): ``"inf"`` returns ``inf``
            (an honest, unbounded interval: no finite bound has the guarantee); ``"max"`` returns
            the largest residual (the highest available rank; nominal coverage is then not
            guaranteed). ``n = 0`` gives ``inf`` either way.

    Returns:
        ``q`` (>= 0, possibly ``inf``).

    Raises:
        ValueError: on ``alpha`` outside (0, 1) or an unknown ``small_n``.
    """
    if small_n not in SMALL_N:
        raise ValueError(f"small_n must be one of {SMALL_N}, got {small_n!r}")
    a = np.asarray(abs_residuals, dtype=float)
    r = np.sort(a[np.isfinite(a)])
    n = r.size
    k = conformal_rank(n, alpha=alpha)
    if n == 0:
        return float("inf")
    if k > n:
        return float(r[-1]) if small_n == "max" else float("inf")
    return float(r[k - 1])


def loo_mean_abs_residuals(y: np.ndarray) -> np.ndarray:
    """Leave-one-out absolute residuals of the mean predictor: ``|y_i - mean(y without i)|``.

    Equal to ``|y_i - mean(y)| * n / (n - 1)``. They calibrate the constant predictor when no
    inner cross-validation is possible (a single sampling date).

    Args:
        y: Target values, shape ``(n,)``.

    Returns:
        Shape ``(n,)``; empty when ``n < 2`` (a single value has nothing to be predicted from).
    """
    y = np.asarray(y, dtype=float)
    n = y.size
    if n < 2:
        return np.empty(0)
    return np.abs(y - y.mean()) * n / (n - 1)


def empirical_coverage(y: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> float:
    """Fraction of ``y`` inside ``[lo, hi]`` (NaNs ignored)."""
    y, lo, hi = (np.asarray(a, dtype=float) for a in (y, lo, hi))
    ok = np.isfinite(y) & ~np.isnan(lo) & ~np.isnan(hi)
    if not ok.any():
        return float("nan")
    return float(np.mean((y[ok] >= lo[ok]) & (y[ok] <= hi[ok])))
