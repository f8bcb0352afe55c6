"""The evaluation protocol shared by the sklearn baselines and SpecTM fine-tuning.

Every method is scored on exactly the same rows:

1. A labelled table is checked (:func:`check_labelled`) and split into its dataset x horizon
   groups (:func:`labelled_groups`), rows in table order.
2. For each seed, the outer folds are ``date_grouped_splits(date_groups(time_utc), n_splits,
   seed)`` (no sampling date on both sides), and each fold's training part is subsampled to each
   label fraction with ``subsample_fraction(train, fraction, seed)`` (:func:`outer_cells`,
   protocol ``date_cv``). Protocol ``next_season`` trains on every earlier season (calendar
   year) and tests on the next one, for each season that has an earlier one, at 100 % labels:
   whether this year's model works next summer (:func:`season_cells`; :func:`evaluation_cells`
   yields both, as ``evaluation.protocols`` asks).
3. Each cell's test predictions and conformal half-width become rows of the predictions table
   (:func:`prediction_frame`, columns :data:`PREDICTION_COLUMNS`), written by
   :func:`write_predictions`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from spectm._io import PathLike, write_csv, write_parquet
from spectm.evaluate.splits import date_grouped_splits, date_groups, subsample_fraction

PREDICTION_COLUMNS = (
    "dataset",
    "protocol",
    "method",
    "horizon",
    "feature_set",
    "fraction",
    "pretrain_seed",
    "seed",
    "fold",
    "row_id",
    "date",
    "y_true_log10",
    "y_pred_log10",
    "pi_lo_log10",
    "pi_hi_log10",
    "abs_dt_hours",
    "config",
)
"""Columns of the predictions table (every method, every cell)."""

PROTOCOLS = ("date_cv", "next_season")
"""Outer protocols: date-grouped K-fold CV, and train on earlier seasons -> test on the next."""

NOT_PRETRAINED = -1
"""``pretrain_seed`` of a method without a pretrained encoder (the baselines)."""

NEXT_SEASON_FRACTION = 1.0
"""Label fraction of the ``next_season`` protocol (every label of the earlier seasons)."""

REQUIRED_COLUMNS = ("row_id", "dataset", "horizon", "time_utc", "log10_microcystin")
"""Columns a labelled table needs to be split and scored."""


def check_labelled(df: pd.DataFrame) -> None:
    """Refuse a labelled table that cannot be split and scored.

    Raises:
        ValueError: on a missing required column, a non-finite target, or a duplicate ``row_id``
            within a dataset x horizon.

    """
    missing = [c for c in REQUIRED_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"labelled table lacks required column(s) {missing}")
    bad = ~np.isfinite(df["log10_microcystin"].to_numpy(dtype=float))
    if bad.any():
        raise ValueError(
            f"column 'log10_microcystin' is NaN/infinite for row_id {df.row_id[bad][:5].tolist()}"
        )
    dup = df.duplicated(["dataset", "horizon", "row_id"])
    if dup.any():
        raise ValueError(
            f"duplicate row_id within dataset x horizon: {df.row_id[dup][:5].tolist()}"
        )


def check_fractions(fractions: Sequence[float]) -> None:
    """Refuse label fractions outside (0, 1].

    Raises:
        ValueError: naming the first bad fraction.

    """
    for f in fractions:
        if not 0 < f <= 1:
            raise ValueError(f"label fraction must be in (0, 1], got {f}")


@dataclass(frozen=True)
class LabelledGroup:
    """The rows of one dataset x horizon, in table order.

    Attributes:
        dataset: Dataset name.
        horizon: ``current_week`` or ``8day_ahead``.
        index: Positions of these rows in the checked table, shape (n,).
        table: The rows themselves (index reset).
        meta: ``row_id``, ``dataset``, ``horizon``, ``date`` (sampling date, the split group),
            ``log10_microcystin`` and ``abs_dt_hours`` (NaN without ``dt_hours``) per row.

    """

    dataset: str
    horizon: str
    index: np.ndarray
    table: pd.DataFrame
    meta: pd.DataFrame

    @property
    def key(self) -> str:
        """``dataset/horizon``."""
        return f"{self.dataset}/{self.horizon}"

    @property
    def y(self) -> np.ndarray:
        """Target, log10 microcystin (log10 ug/L), shape (n,)."""
        return self.meta["log10_microcystin"].to_numpy(dtype=float)

    @property
    def dates(self) -> np.ndarray:
        """Sampling-date key per row (``YYYY-MM-DD``), shape (n,)."""
        return self.meta["date"].to_numpy()


def labelled_groups(df: pd.DataFrame) -> list[LabelledGroup]:
    """Check a labelled table and split it into its dataset x horizon groups (sorted by key).

    Raises:
        ValueError: see :func:`check_labelled`.

    """
    check_labelled(df)
    groups = []
    indices: dict[Any, Any] = df.groupby(["dataset", "horizon"]).indices
    for key, index in sorted(indices.items()):
        dataset, horizon = key
        sub = df.iloc[index].reset_index(drop=True)
        meta = pd.DataFrame(
            {
                "row_id": sub["row_id"].to_numpy(),
                "dataset": sub["dataset"].to_numpy(),
                "horizon": sub["horizon"].to_numpy(),
                "date": date_groups(sub["time_utc"]),
                "log10_microcystin": sub["log10_microcystin"].to_numpy(dtype=float),
                "abs_dt_hours": (
                    sub["dt_hours"].abs().to_numpy(dtype=float)
                    if "dt_hours" in sub.columns
                    else np.full(len(sub), np.nan)
                ),
            }
        )
        groups.append(LabelledGroup(str(dataset), str(horizon), np.asarray(index), sub, meta))
    return groups


@dataclass(frozen=True)
class OuterCell:
    """One outer cell: a seed, a fold and a label fraction.

    Attributes:
        seed: Seed of the split, the subsample and everything fitted in the cell.
        fold: Outer fold number (``next_season``: the index of the test season).
        fraction: Label fraction of the fold's training part.
        train: Training rows (subsampled), sorted, shape (n_train,).
        test: Test rows of the fold, shape (n_test,).
        protocol: ``date_cv`` or ``next_season`` (:data:`PROTOCOLS`).

    """

    seed: int
    fold: int
    fraction: float
    train: np.ndarray
    test: np.ndarray
    protocol: str = "date_cv"


def outer_cells(
    dates: np.ndarray, *, seeds: Sequence[int], fractions: Sequence[float], n_splits: int
) -> Iterator[OuterCell]:
    """The outer cells of one group, seed by seed, fold by fold, fraction by fraction.

    Args:
        dates: Sampling-date key per row (the split groups), shape (n,).
        seeds: Seeds; each draws its own folds and subsamples.
        fractions: Label fractions, each in (0, 1].
        n_splits: Outer folds (fewer when there are fewer dates).

    Yields:
        :class:`OuterCell` s.

    """
    for seed in map(int, seeds):
        splits = date_grouped_splits(dates, n_splits=n_splits, seed=seed)
        for fold, (train_idx, test_idx) in enumerate(splits):
            for fraction in fractions:
                tr = subsample_fraction(train_idx, fraction=fraction, seed=seed)
                yield OuterCell(seed, fold, float(fraction), tr, test_idx)


def season_cells(dates: np.ndarray, *, seeds: Sequence[int]) -> Iterator[OuterCell]:
    """The ``next_season`` cells: every earlier season -> the next one, per seed.

    A season is the calendar year of the sampling date (Lake Erie's bloom season, June-October,
    lies inside one year). For each season with at least one earlier season, the training part is
    every row of the earlier seasons (label fraction 1) and the test part is that season's rows.
    The split is the same for every seed; the seed drives what is stochastic inside the cell
    (inner folds, random forests, fine-tuning).

    Args:
        dates: Sampling-date key per row (``YYYY-MM-DD``), shape (n,).
        seeds: Seeds.

    Yields:
        :class:`OuterCell` s with ``protocol="next_season"``; none when there is one season.

    """
    years = np.array([int(str(d)[:4]) for d in np.asarray(dates)], dtype=int)
    seasons = np.unique(years)
    for seed in map(int, seeds):
        for fold, season in enumerate(seasons[1:]):
            train, test = np.flatnonzero(years < season), np.flatnonzero(years == season)
            yield OuterCell(seed, fold, NEXT_SEASON_FRACTION, train, test, "next_season")


def evaluation_cells(
    dates: np.ndarray,
    *,
    seeds: Sequence[int],
    fractions: Sequence[float],
    n_splits: int,
    protocols: Sequence[str],
) -> Iterator[OuterCell]:
    """Every outer cell of one group: ``date_cv`` at each fraction, then ``next_season``.

    Raises:
        ValueError: on an unknown protocol.

    """
    unknown = [p for p in protocols if p not in PROTOCOLS]
    if unknown:
        raise ValueError(f"unknown evaluation protocol(s) {unknown}; expected some of {PROTOCOLS}")
    if "date_cv" in protocols:
        yield from outer_cells(dates, seeds=seeds, fractions=fractions, n_splits=n_splits)
    if "next_season" in protocols:
        yield from season_cells(dates, seeds=seeds)


def prediction_frame(
    group: LabelledGroup,
    cell: OuterCell,
    pred: np.ndarray,
    halfwidth: float,
    *,
    method: str,
    feature_set: str,
    config: Mapping[str, Any],
    pretrain_seed: int = NOT_PRETRAINED,
) -> pd.DataFrame:
    """Predictions of one method in one cell as rows of the predictions table.

    Args:
        group: The dataset x horizon.
        cell: The outer cell; predictions are for ``cell.test``.
        pred: Predicted log10 microcystin (log10 ug/L), shape (n_test,).
        halfwidth: Conformal half-width (log10 units; inf = unbounded interval).
        method: Method name.
        feature_set: Feature-set name.
        config: Chosen settings of the cell (stored as sorted JSON).
        pretrain_seed: Seed of the pretrained encoder (:data:`NOT_PRETRAINED` for methods
            without one).

    Returns:
        A frame with :data:`PREDICTION_COLUMNS`.

    Raises:
        FloatingPointError: naming the method, cell and config when a prediction is not finite.

    """
    pred = np.asarray(pred, dtype=float)
    if not np.isfinite(pred).all():
        raise FloatingPointError(
            f"{method} on {feature_set} ({group.key}, {cell.protocol}, seed {cell.seed}, "
            f"fold {cell.fold}, "
            f"fraction {cell.fraction}, config {dict(config)}) predicted non-finite values"
        )
    test = group.meta.iloc[cell.test]
    return pd.DataFrame(
        {
            "dataset": test["dataset"].to_numpy(),
            "protocol": cell.protocol,
            "method": method,
            "horizon": test["horizon"].to_numpy(),
            "feature_set": feature_set,
            "fraction": float(cell.fraction),
            "pretrain_seed": int(pretrain_seed),
            "seed": int(cell.seed),
            "fold": int(cell.fold),
            "row_id": test["row_id"].to_numpy(),
            "date": test["date"].to_numpy(),
            "y_true_log10": test["log10_microcystin"].to_numpy(dtype=float),
            "y_pred_log10": pred,
            "pi_lo_log10": pred - halfwidth,
            "pi_hi_log10": pred + halfwidth,
            "abs_dt_hours": test["abs_dt_hours"].to_numpy(dtype=float),
            "config": json.dumps(dict(config), sort_keys=True, default=str),
        }
    )


def concat_predictions(frames: Sequence[pd.DataFrame]) -> pd.DataFrame:
    """Frames of :func:`prediction_frame` as one table (an empty table when there are none)."""
    if not frames:
        return pd.DataFrame(columns=list(PREDICTION_COLUMNS))
    return pd.concat(frames, ignore_index=True)[list(PREDICTION_COLUMNS)]


def write_predictions(predictions: pd.DataFrame, path: PathLike) -> Path:
    """Write a predictions table atomically (Parquet, or CSV when ``path`` ends in ``.csv``).

    Raises:
        ValueError: if a column of :data:`PREDICTION_COLUMNS` is missing.

    """
    missing = [c for c in PREDICTION_COLUMNS if c not in predictions.columns]
    if missing:
        raise ValueError(f"predictions table lacks column(s) {missing}")
    table = predictions[list(PREDICTION_COLUMNS)]
    if str(path).endswith(".csv"):
        return write_csv(table, path)
    return write_parquet(table, path)
