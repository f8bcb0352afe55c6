"""Outer splits grouped by sampling date, and label-fraction subsampling.

No sampling date ever appears in both the training and the test part of a split: samples taken
on one cruise day share water, weather and the satellite overpass, so splitting them would leak.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def date_groups(times: pd.Series | np.ndarray) -> np.ndarray:
    """Group key per row: the UTC calendar date (``YYYY-MM-DD``) of each timestamp."""
    ts = pd.to_datetime(pd.Series(times), utc=True)
    return ts.dt.strftime("%Y-%m-%d").to_numpy()


def date_grouped_splits(
    groups: np.ndarray, *, n_splits: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """K-fold splits with whole groups (dates) held out together.

    Args:
        groups: Group key per row, shape ``(n,)`` (see :func:`date_groups`).
        n_splits: Number of folds; reduced to the number of distinct groups when larger.
        seed: Shuffles which groups go together.

    Returns:
        ``n_splits`` pairs of (train indices, test indices).

    Raises:
        ValueError: when there are fewer than 2 distinct groups.
    """
    groups = np.asarray(groups)
    n_groups = np.unique(groups).size
    if n_groups < 2:
        raise ValueError(f"need at least 2 distinct sampling dates to split, got {n_groups}")
    k = min(n_splits, n_groups)
    from sklearn.model_selection import GroupKFold  # here: the corpus and map jobs need no sklearn

    cv = GroupKFold(n_splits=k, shuffle=True, random_state=seed)
    idx = np.arange(groups.size)
    return [(tr, te) for tr, te in cv.split(idx, groups=groups)]


def subsample_fraction(
    train_idx: np.ndarray, *, fraction: float, seed: int, min_samples: int = 5
) -> np.ndarray:
    """A seeded random subset of training rows for label-efficiency curves.

    Args:
        train_idx: Training row indices.
        fraction: Fraction kept, in (0, 1].
        seed: Random seed (the same seed keeps nested subsets stable across methods).
        min_samples: Lower bound on the subset size (capped at ``len(train_idx)``).
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"label fraction must be in (0, 1], got {fraction}")
    n = max(min(min_samples, train_idx.size), round(fraction * train_idx.size))
    rng = np.random.default_rng(seed)
    return np.sort(rng.permutation(train_idx)[:n])
