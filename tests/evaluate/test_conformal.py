"""Split-conformal half-widths: the exact rank, its small-n fallback, and edge cases.

Every expectation is worked out by hand from ``k = ceil((n + 1)(1 - alpha))`` in the comments.
"""

import math

import numpy as np
import pytest

from spectm.evaluate.conformal import (
    PROTOCOL_SMALL_N,
    conformal_halfwidth,
    conformal_rank,
    loo_mean_abs_residuals,
)

BOTH = ("inf", "max")


def test_rank_below_n_is_the_exact_order_statistic_in_both_modes():
    r = np.random.default_rng(0).permutation(np.arange(1.0, 20.0))  # 1..19, shuffled
    for mode in BOTH:
        assert conformal_halfwidth(r, alpha=0.1, small_n=mode) == 18.0  # n = 19: k = 18
        assert conformal_halfwidth(r, alpha=0.5, small_n=mode) == 10.0  # k = ceil(10) = 10


def test_rank_equal_to_n_is_the_largest_residual_in_both_modes():
    r = np.array([5.0, 1.0, 4.0, 2.0, 3.0, 9.0, 8.0, 7.0, 6.0])  # n = 9: k = ceil(9.0) = 9
    for mode in BOTH:
        assert conformal_halfwidth(r, alpha=0.1, small_n=mode) == 9.0


def test_rank_above_n_is_inf_strictly_and_the_largest_residual_in_the_fallback():
    r = np.array([0.3, 0.8, 0.1, 0.5, 0.2, 0.7, 0.4, 0.6])  # n = 8: k = ceil(8.1) = 9 > 8
    assert conformal_halfwidth(r, alpha=0.1) == math.inf  # the default is strict
    assert conformal_halfwidth(r, alpha=0.1, small_n="inf") == math.inf
    assert conformal_halfwidth(r, alpha=0.1, small_n="max") == 0.8
    assert PROTOCOL_SMALL_N == "max"


def test_no_residual_is_inf_in_both_modes():
    for mode in BOTH:
        assert conformal_halfwidth(np.array([]), alpha=0.1, small_n=mode) == math.inf
        nothing = np.array([np.nan, np.inf])  # non-finite residuals are ignored: n = 0
        assert conformal_halfwidth(nothing, alpha=0.5, small_n=mode) == math.inf


def test_one_residual():
    r = np.array([0.25])
    assert conformal_halfwidth(r, alpha=0.1, small_n="inf") == math.inf  # k = ceil(1.8) = 2 > 1
    assert conformal_halfwidth(r, alpha=0.1, small_n="max") == 0.25
    for mode in BOTH:
        assert conformal_halfwidth(r, alpha=0.6, small_n=mode) == 0.25  # k = ceil(0.8) = 1


def test_ties_and_ignored_non_finite_residuals():
    ties = np.array([2.0, 3.0, 2.0, 1.0, 2.0])  # sorted 1 2 2 2 3; n = 5: k = ceil(3.0) = 3
    assert conformal_halfwidth(ties, alpha=0.5) == 2.0
    assert conformal_halfwidth(np.full(4, 0.7), alpha=0.2) == 0.7  # k = ceil(4.0) = 4
    mixed = np.array([1.0, np.inf, 2.0, np.nan])  # n = 2: k = ceil(1.5) = 2
    assert conformal_halfwidth(mixed, alpha=0.5) == 2.0


def test_alpha_extremes_and_float_rounding_of_the_rank():
    r = np.array([4.0, 1.0, 5.0, 2.0, 3.0])  # n = 5
    assert conformal_halfwidth(r, alpha=1e-9) == math.inf  # k = ceil(6 - 6e-9) = 6 > 5
    assert conformal_halfwidth(r, alpha=1e-9, small_n="max") == 5.0
    assert conformal_halfwidth(r, alpha=0.999) == 1.0  # k = ceil(0.006) = 1
    # 10 * (1 - 0.7) is 3.0000000000000004 in floating point; the rank is 3, not 4
    nine = np.arange(1.0, 10.0)
    assert conformal_rank(9, alpha=0.7) == 3
    assert conformal_halfwidth(nine, alpha=0.7) == 3.0
    # 20 * (1 - 0.95) is 1.0000000000000009; the rank is 1
    assert conformal_halfwidth(np.arange(1.0, 20.0), alpha=0.95) == 1.0
    assert conformal_rank(19, alpha=0.1) == 18 and conformal_rank(0, alpha=0.1) == 1


def test_bad_arguments_are_named():
    for bad in (0.0, 1.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="alpha must be in"):
            conformal_halfwidth(np.ones(3), alpha=bad)
    with pytest.raises(ValueError, match="small_n must be one of"):
        conformal_halfwidth(np.ones(3), alpha=0.1, small_n="zero")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="number of residuals"):
        conformal_rank(-1, alpha=0.1)


def test_loo_residuals_of_the_mean():
    y = np.array([1.0, 2.0, 6.0])  # means of the others: 4, 3.5, 1.5
    np.testing.assert_allclose(loo_mean_abs_residuals(y), [3.0, 1.5, 4.5], rtol=1e-12)
    assert loo_mean_abs_residuals(np.array([2.0])).size == 0
    assert loo_mean_abs_residuals(np.array([])).size == 0


def test_fallback_coverage_is_n_over_n_plus_one_for_exchangeable_residuals():
    """The documented coverage of the capped rank: P(|new| <= max of n) = n / (n + 1)."""
    rng = np.random.default_rng(3)
    n, trials = 5, 6000
    hits = 0
    for _ in range(trials):
        q = conformal_halfwidth(np.abs(rng.normal(size=n)), alpha=0.1, small_n="max")
        hits += abs(rng.normal()) <= q
    assert hits / trials == pytest.approx(n / (n + 1), abs=0.02)  # 5/6; sd of the mean 0.005
