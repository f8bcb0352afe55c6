"""Classical microcystin baselines: sklearn pipelines, nested date-grouped CV, conformal intervals.

For each dataset x horizon, seed, outer fold, label fraction, algorithm and feature set:

1. Outer split: ``date_grouped_splits(date_groups(time_utc), n_splits, seed)``; the training part
   is subsampled with ``subsample_fraction(train_idx, fraction, seed)`` (the same calls the SpecTM
   fine-tuning uses, so every method sees identical rows).
2. Inner CV: an exhaustive search over a small grid, folds = ``GroupKFold`` on the sampling
   *dates* of the training rows (no date in both an inner training and an inner validation fold),
   scored by the mean over folds of the mean squared error in log10 units (what ``GridSearchCV``
   with ``neg_mean_squared_error`` computes, ties to the first grid point as it does; a test checks
   that both choose the same point), then a refit on all training rows.
   The constant predictor (the mean of the training target) is a candidate of every search, scored
   exactly like a grid point (its out-of-fold prediction for an inner validation fold is the mean
   of that fold's inner-training target). It wins ties, the simplest model: the best grid point
   replaces it only when its CV MSE is lower by more than one standard error of the paired
   per-row difference of squared out-of-fold errors (the one-standard-error rule, Hastie et al.
   2009, sec. 7.10, :data:`CONSTANT_MARGIN_SE`; with 15 training rows, CV differences of that
   size arise between uninformative models by chance) and by more than a relative ``1e-9``
   (:data:`TIE_RTOL`: rounding cannot pick an equivalent shrunken model). The constant is
   refitted as ``[features] -> StandardScaler -> DummyRegressor(mean)`` with
   ``best_params == {"constant": True}`` (:data:`CONSTANT_PARAMS`). So a cell whose inputs do not
   beat the mean across sampling dates predicts the mean instead of an overfitted model (small
   label fractions, uninformative features). The grids also reach the constant on their
   own: ridge's largest alpha (``1e4`` demo, ``1e6`` full) shrinks the standardised coefficients
   to almost zero, and lasso's largest (``3``) zeroes them all for any target with standard
   deviation <= 3 log10 units (on standardised inputs every coefficient is zero once
   ``alpha >= max_j |cov(x_j, y)|``, which is at most ``std(y)``).
   The refitted model's predictions are clipped to the range of the target it was trained on
   (:meth:`CellFit.predict`): trees and neighbours never leave it, and a linear model on a few
   rows must not either (a frozen probe at 5 % labels predicted 10^-6.5 ug/L from labels within
   10^-1.3..10^1.0, a standardised embedding dimension of a few rows having almost no spread).
   The inner CV and the conformal residuals use the unclipped fold predictions (clipping them
   made uninformative grid points beat the constant more often: PLS on pure noise at 5 % labels
   fell from R² -0.09 to -0.16), so the half-width is, if anything, conservative.
3. Interval: CV-residual split conformal. The search already predicted every training row once
   out of fold with each candidate; the chosen one's out-of-fold predictions give the residuals
   (what ``cross_val_predict`` with the chosen hyper-parameters and the same date folds returns,
   without fitting those models again), and the ``ceil((n+1)(1-alpha))``-th smallest absolute
   residual is the half-width ``q``
   (:func:`spectm.evaluate.conformal.conformal_halfwidth`); the interval is ``pred +- q`` around
   the refitted model. This is the "K-fold CV" interval of Barber et al. (2021, Ann. Statist.
   49:486), not CV+: it has no finite-sample guarantee in the worst case (it is near nominal when
   the refitted model behaves like the fold models), so empirical coverage is always reported.
   Fewer than ``1/alpha - 1`` residuals (the rank exceeds ``n``) give the largest residual
   (``small_n="max"``, :data:`spectm.evaluate.conformal.PROTOCOL_SMALL_N`): a finite interval
   whose nominal coverage is not guaranteed.

Every pipeline is ``[feature PCA when pca_rrs] -> StandardScaler -> model``, fitted inside the CV.
Grids whose values depend on the sample size (KNN neighbours, PLS components, PCA components) are
capped at the smallest inner training fold. A training part with a single sampling date cannot be
cross-validated: the constant predictor is chosen, calibrated on the leave-one-out residuals of
the mean, ``|y_i - mean(y_-i)| = |y_i - mean(y)| n / (n - 1)`` (one row: ``q = inf``, nothing to
calibrate on).
"""

from __future__ import annotations

import time
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import sklearn
from joblib import Parallel, delayed
from sklearn.base import clone
from sklearn.cross_decomposition import PLSRegression
from sklearn.dummy import DummyRegressor
from sklearn.ensemble import HistGradientBoostingRegressor, RandomForestRegressor
from sklearn.linear_model import ElasticNet, Lasso, Ridge
from sklearn.model_selection import GroupKFold, ParameterGrid
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVR
from threadpoolctl import threadpool_limits

from spectm.config import EvaluationConfig
from spectm.evaluate.conformal import (
    PROTOCOL_SMALL_N,
    conformal_halfwidth,
    loo_mean_abs_residuals,
)
from spectm.evaluate.features import build_features, feature_transformer, model_width
from spectm.evaluate.protocol import (
    LabelledGroup,
    check_fractions,
    concat_predictions,
    evaluation_cells,
    labelled_groups,
    prediction_frame,
)

GRIDS = ("demo", "full")
SCORING = "neg_mean_squared_error"
CONSTANT_PARAMS: Mapping[str, Any] = {"constant": True}
"""``CellFit.best_params`` of a cell whose search chose the constant predictor."""
TIE_RTOL = 1e-9
"""A grid point replaces the constant only when its CV MSE is lower by more than this fraction."""
CONSTANT_MARGIN_SE = 1.0
"""... and lower by more than this many standard errors of the paired per-row difference of the
squared out-of-fold errors (the one-standard-error rule, Hastie et al. 2009, sec. 7.10, with the
constant as the simplest model); 0 = the lower CV MSE wins, ties to the constant."""


@dataclass(frozen=True)
class Algorithm:
    """One baseline regressor and its hyper-parameter grids.

    Attributes:
        name: Method name written to the predictions table.
        make: ``seed -> unfitted sklearn regressor``.
        grids: ``{"demo"|"full": {parameter: values}}`` (parameters of the regressor itself).
        sample_bounded: Parameters whose values must not exceed the training-fold size.
        feature_bounded: Parameters whose values must not exceed the number of model features.
    """

    name: str
    make: Callable[[int], Any]
    grids: Mapping[str, Mapping[str, Sequence[Any]]]
    sample_bounded: tuple[str, ...] = ()
    feature_bounded: tuple[str, ...] = ()

    def n_points(self, grid: str) -> int:
        """Number of hyper-parameter combinations in grid ``grid``."""
        return len(ParameterGrid({k: list(v) for k, v in self.grids[grid].items()}))


def _ridge(seed: int) -> Ridge:
    return Ridge()


def _lasso(seed: int) -> Lasso:
    return Lasso(max_iter=20_000)


def _elasticnet(seed: int) -> ElasticNet:
    return ElasticNet(max_iter=20_000)


def _svr(seed: int) -> SVR:
    return SVR(kernel="rbf")


def _rf(seed: int) -> RandomForestRegressor:
    return RandomForestRegressor(random_state=seed, n_jobs=1)


def _hgb(seed: int) -> HistGradientBoostingRegressor:
    return HistGradientBoostingRegressor(random_state=seed, early_stopping=False)


def _pls(seed: int) -> PLSRegression:
    return PLSRegression(scale=False)


def _knn(seed: int) -> KNeighborsRegressor:
    return KNeighborsRegressor()


_ALGOS = (
    Algorithm(
        "ridge",
        _ridge,
        {
            "demo": {"alpha": [1.0, 10.0, 100.0, 1e3, 1e4]},
            "full": {"alpha": [float(a) for a in np.logspace(-2, 6, 9)]},
        },
    ),
    Algorithm(
        "lasso",
        _lasso,
        {
            "demo": {"alpha": [0.02, 0.1, 3.0]},
            "full": {"alpha": [0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0]},
        },
    ),
    Algorithm(
        "elasticnet",
        _elasticnet,
        {
            "demo": {"alpha": [0.05], "l1_ratio": [0.5]},
            "full": {"alpha": [0.003, 0.01, 0.03, 0.1], "l1_ratio": [0.1, 0.5, 0.9]},
        },
    ),
    Algorithm(
        "svr",
        _svr,
        {
            "demo": {"C": [1.0, 10.0], "gamma": ["scale"], "epsilon": [0.1]},
            "full": {
                "C": [0.1, 1.0, 10.0, 100.0],
                "gamma": ["scale", 0.001, 0.01, 0.1],
                "epsilon": [0.05, 0.2],
            },
        },
    ),
    Algorithm(
        "random_forest",
        _rf,
        {
            "demo": {"n_estimators": [20], "min_samples_leaf": [3], "max_features": [0.3]},
            "full": {
                "n_estimators": [100],
                "max_depth": [None, 6],
                "min_samples_leaf": [1, 5],
                "max_features": [0.3, 1.0],
            },
        },
    ),
    Algorithm(
        "hist_gradient_boosting",
        _hgb,
        {
            "demo": {
                "max_iter": [20],
                "learning_rate": [0.2],
                "max_leaf_nodes": [8],
                "min_samples_leaf": [10],
            },
            "full": {
                "max_iter": [100],
                "learning_rate": [0.05, 0.1],
                "max_leaf_nodes": [7, 15],
                "min_samples_leaf": [5, 15],
            },
        },
    ),
    Algorithm(
        "pls",
        _pls,
        {"demo": {"n_components": [2, 4]}, "full": {"n_components": [1, 2, 3, 4, 5, 6, 8, 10]}},
        sample_bounded=("n_components",),
        feature_bounded=("n_components",),
    ),
    Algorithm(
        "knn",
        _knn,
        {
            "demo": {"n_neighbors": [5, 10], "weights": ["distance"]},
            "full": {"n_neighbors": [3, 5, 7, 10, 15], "weights": ["uniform", "distance"]},
        },
        sample_bounded=("n_neighbors",),
    ),
)

ALGORITHMS: dict[str, Algorithm] = {a.name: a for a in _ALGOS}
"""The baseline algorithms by name, in a fixed order."""


def _algorithm(name: str) -> Algorithm:
    if name not in ALGORITHMS:
        raise ValueError(f"unknown baseline algorithm {name!r}; choose from {list(ALGORITHMS)}")
    return ALGORITHMS[name]


def _check_grid(grid: str) -> None:
    if grid not in GRIDS:
        raise ValueError(f"unknown baseline grid {grid!r}; expected one of {GRIDS}")


def param_grid(algorithm: str, grid: str, *, n_features: int, n_train: int) -> dict[str, list[Any]]:
    """The ``GridSearchCV`` grid (``model__``-prefixed) of one algorithm, capped to the data.

    Args:
        algorithm: Name in :data:`ALGORITHMS`.
        grid: ``"demo"`` or ``"full"``.
        n_features: Number of features reaching the model.
        n_train: Smallest number of rows any fit will see (the smallest inner training fold).

    Returns:
        Parameter lists; values above a data-dependent bound are dropped, and replaced by the
        bound when none is left.
    """
    _check_grid(grid)
    algo = _algorithm(algorithm)
    out: dict[str, list[Any]] = {}
    for key, values in algo.grids[grid].items():
        cap = None
        if key in algo.sample_bounded:
            cap = n_train - 1 if key == "n_components" else n_train
        if key in algo.feature_bounded:
            cap = n_features if cap is None else min(cap, n_features)
        vals = list(values)
        if cap is not None:
            cap = max(cap, 1)
            vals = [v for v in vals if v <= cap] or [cap]
        out[f"model__{key}"] = vals
    return out


def make_pipeline(algorithm: str, feature_names: list[str], *, n_train: int, seed: int) -> Pipeline:
    """``[PCA of pca_* columns] -> StandardScaler -> regressor`` for one algorithm.

    Args:
        algorithm: Name in :data:`ALGORITHMS`.
        feature_names: Columns of ``X`` (from :func:`spectm.evaluate.features.build_features`).
        n_train: Smallest number of rows any fit will see (caps the PCA components).
        seed: Random state of stochastic regressors.
    """
    steps: list[tuple[str, Any]] = []
    ft = feature_transformer(feature_names, n_train)
    if ft is not None:
        steps.append(("features", ft))
    steps += [("scale", StandardScaler()), ("model", _algorithm(algorithm).make(seed))]
    return Pipeline(steps)


def inner_date_splits(
    dates: np.ndarray, *, n_splits: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Inner CV folds over whole sampling dates (``GroupKFold``, groups = dates).

    Args:
        dates: Date key per training row, shape ``(n_train,)``.
        n_splits: Requested folds; reduced to the number of distinct dates.
        seed: Shuffles which dates go together.

    Returns:
        Fold list (indices into the training rows); empty when there is a single date.
    """
    dates = np.asarray(dates)
    k = min(n_splits, np.unique(dates).size)
    if k < 2:
        return []
    cv = GroupKFold(n_splits=k, shuffle=True, random_state=seed)
    return list(cv.split(np.zeros((dates.size, 1)), groups=dates))


def constant_pipeline(feature_names: list[str], *, n_train: int) -> Pipeline:
    """``[PCA of pca_* columns] -> StandardScaler -> DummyRegressor(mean)``: the constant model.

    It predicts the mean of the training target whatever the input; the feature steps are kept
    so that it has the steps (``named_steps``) of every other cell.

    Args:
        feature_names: Columns of ``X``.
        n_train: Smallest number of rows any fit will see (caps the PCA components).
    """
    steps: list[tuple[str, Any]] = []
    ft = feature_transformer(feature_names, n_train)
    if ft is not None:
        steps.append(("features", ft))
    steps += [("scale", StandardScaler()), ("model", DummyRegressor(strategy="mean"))]
    return Pipeline(steps)


@dataclass
class CellFit:
    """One fitted baseline cell.

    Attributes:
        model: Pipeline refitted on all training rows with the chosen candidate (with
            ``constant``: :func:`constant_pipeline`, whose ``model`` step is a
            ``DummyRegressor``).
        best_params: Chosen hyper-parameters (``model__``/``features__`` prefixes removed);
            :data:`CONSTANT_PARAMS` when the constant was chosen.
        halfwidth: Conformal half-width ``q`` (log10 units); ``inf`` only with a single training
            row (nothing to calibrate on).
        inner_splits: Inner date folds used (indices into the training rows).
        n_points: Grid points searched (the constant candidate not counted; 0 without inner CV).
        n_fits: Pipeline fits run (grid points x inner folds + the refit; the constant's fold
            predictions are means, not counted).
        constant: Whether the constant predictor (the training mean) was chosen: no grid point
            beat it in the inner CV by the margin, or there was a single sampling date.
        constant_mse: Mean inner-fold MSE of the constant candidate (NaN without inner CV).
        cv_mse: Mean inner-fold MSE (log10 units squared) per grid point, in grid order (empty
            without inner CV).
        warnings: ``"Category: message"`` (first 90 characters) of each warning raised in fit.
        y_range: Smallest and largest training target; :meth:`predict` clips to it.
    """

    model: Pipeline
    best_params: dict[str, Any]
    halfwidth: float
    inner_splits: list[tuple[np.ndarray, np.ndarray]]
    n_points: int
    n_fits: int
    constant: bool = False
    constant_mse: float = float("nan")
    cv_mse: list[float] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    y_range: tuple[float, float] = (-np.inf, np.inf)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Predictions (n,) of the refitted model, clipped to the training target range.

        No cell predicts a concentration beyond the ones it was trained on: a linear model on
        a few rows extrapolates without bound on inputs unlike its training rows (a frozen
        probe at 5 % labels predicted 10^-6.5 ug/L from labels in 10^-1.3..10^1.0).
        """
        return clip_to_range(np.ravel(self.model.predict(x)), self.y_range)


def clip_to_range(pred: np.ndarray, y_range: tuple[float, float]) -> np.ndarray:
    """``pred`` clipped to ``[y_range[0], y_range[1]]`` (the training target range)."""
    return np.clip(pred, y_range[0], y_range[1])


def fit_cell(
    x: np.ndarray,
    y: np.ndarray,
    dates: np.ndarray,
    *,
    algorithm: str,
    feature_names: list[str],
    grid: str,
    inner_splits: int,
    seed: int,
    alpha: float,
    margin_se: float = CONSTANT_MARGIN_SE,
) -> CellFit:
    """Tune, refit and calibrate one baseline on one training part.

    The candidates are the grid points and the constant predictor (the training mean), scored by
    the same inner date-grouped CV; the best grid point (the first on ties, as ``GridSearchCV``)
    must beat the constant by ``margin_se`` standard errors, else the constant is chosen; it is
    also chosen without inner CV (a single sampling date). See the module docstring.

    Args:
        x: Training features, shape ``(n_train, n_features)``.
        y: Training target (log10 microcystin, log10 ug/L), shape ``(n_train,)``.
        dates: Sampling-date key per training row, shape ``(n_train,)`` (inner CV groups).
        algorithm: Name in :data:`ALGORITHMS`.
        feature_names: Column names of ``x``.
        grid: ``"demo"`` or ``"full"``.
        inner_splits: Inner date folds requested.
        seed: Random state (inner fold shuffling, stochastic models).
        alpha: Conformal miscoverage (interval level ``1 - alpha``).
        margin_se: Standard errors by which the best grid point must beat the constant
            (:data:`CONSTANT_MARGIN_SE`; 0: by any amount beyond :data:`TIE_RTOL`).

    Returns:
        The fitted cell; ``halfwidth`` from the chosen candidate's out-of-fold residuals (single
        date: the leave-one-out residuals of the mean), capped at the largest residual when
        there are too few for the rank (``small_n="max"``).
    """
    y = np.asarray(y, dtype=float)
    splits = inner_date_splits(dates, n_splits=inner_splits, seed=seed)
    n_min = min((len(tr) for tr, _ in splits), default=len(y))
    pipe = make_pipeline(algorithm, feature_names, n_train=n_min, seed=seed)
    grid_dict = param_grid(
        algorithm, grid, n_features=model_width(feature_names, n_min), n_train=n_min
    )
    points = list(ParameterGrid(grid_dict))
    cv_mse: list[float] = []
    constant_mse = float("nan")
    params: dict[str, Any] | None = None  # None: the constant
    # One BLAS/OpenMP thread: parallelism is over cells (run_baseline_grid's n_jobs); nested
    # threads on these tiny problems only contend (HistGradientBoosting was 10x slower).
    with threadpool_limits(limits=1), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if not splits:  # a single date: no inner CV, the constant, calibrated leave-one-out
            resid = loo_mean_abs_residuals(y)
        else:
            best_oof = _constant_out_of_fold(y, splits)
            constant_mse = _fold_mse(y, best_oof, splits)
            best, best_grid_oof = 0, best_oof
            for i, point in enumerate(points):
                oof = _out_of_fold(clone(pipe).set_params(**point), x, y, splits)
                cv_mse.append(_fold_mse(y, oof, splits))
                if i == 0 or cv_mse[-1] < cv_mse[best]:  # ties keep the first, as GridSearchCV
                    best, best_grid_oof = i, oof
            if _beats_constant(y, best_grid_oof, best_oof, splits, margin_se):  # else: constant
                params, best_oof = points[best], best_grid_oof
            resid = np.abs(y - best_oof)
        halfwidth = conformal_halfwidth(resid, alpha=alpha, small_n=PROTOCOL_SMALL_N)
        if params is None:
            model = constant_pipeline(feature_names, n_train=n_min).fit(x, y)
        else:
            model = clone(pipe).set_params(**params).fit(x, y)
    return CellFit(
        model=model,
        best_params=dict(CONSTANT_PARAMS) if params is None else _clean(params),
        halfwidth=halfwidth,
        inner_splits=splits,
        n_points=len(points) if splits else 0,
        n_fits=len(points) * len(splits) + 1,
        constant=params is None,
        constant_mse=constant_mse,
        cv_mse=cv_mse,
        warnings=[f"{w.category.__name__}: {str(w.message)[:90]}" for w in caught],
        y_range=(float(y.min()), float(y.max())),
    )


def _beats_constant(
    y: np.ndarray,
    grid_oof: np.ndarray,
    const_oof: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    margin_se: float,
) -> bool:
    """Whether the best grid point's inner-CV MSE beats the constant's by more than the margin.

    The margin is ``margin_se`` standard errors of the paired per-row difference of squared
    out-of-fold errors (grid point minus constant), and at least a relative :data:`TIE_RTOL`.
    """
    grid_mse, const_mse = _fold_mse(y, grid_oof, splits), _fold_mse(y, const_oof, splits)
    if not grid_mse < const_mse * (1.0 - TIE_RTOL):
        return False
    diff = (y - grid_oof) ** 2 - (y - const_oof) ** 2  # (n,), every row predicted once
    se = float(np.std(diff, ddof=1) / np.sqrt(diff.size)) if diff.size > 1 else 0.0
    return grid_mse < const_mse - margin_se * se


def _constant_out_of_fold(y: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """The constant candidate out of fold: each validation fold gets its training part's mean."""
    oof = np.full(y.shape, np.nan)
    for tr, va in splits:
        oof[va] = y[tr].mean()
    return oof


def _fold_mse(y: np.ndarray, oof: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """Mean over validation folds of the fold MSE (as ``neg_mean_squared_error`` scores)."""
    return float(np.mean([np.mean((y[va] - oof[va]) ** 2) for _, va in splits]))


def _out_of_fold(
    estimator: Pipeline, x: np.ndarray, y: np.ndarray, splits: list[tuple[np.ndarray, np.ndarray]]
) -> np.ndarray:
    """Predict each row from the fold model that did not see it; shape ``(n,)``."""
    oof = np.full(y.shape, np.nan)
    for tr, va in splits:
        oof[va] = np.ravel(clone(estimator).fit(x[tr], y[tr]).predict(x[va]))
    return oof


def _clean(params: Mapping[str, Any]) -> dict[str, Any]:
    out = {}
    for k, v in params.items():
        key = k.split("__", 1)[1] if "__" in k else k
        out[key] = v.item() if isinstance(v, np.generic) else v
    return out


def _run_task(
    x: np.ndarray,
    feature_names: list[str],
    group: LabelledGroup,
    *,
    algorithm: str,
    feature_set: str,
    seed: int,
    fractions: Sequence[float],
    n_splits: int,
    inner_splits: int,
    grid: str,
    alpha: float,
    protocols: Sequence[str],
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """All outer cells (protocols, folds, fractions) of one task.

    A task is one dataset x horizon x feature set x algorithm x seed.
    """
    y, dates = group.y, group.dates
    counts: dict[str, Any] = {"cells": 0, "fits": 0, "points": 0, "no_inner_cv": 0, "constant": 0}
    caught: Counter[str] = Counter()
    frames = []
    cells = evaluation_cells(
        dates, seeds=[seed], fractions=fractions, n_splits=n_splits, protocols=protocols
    )
    for cell in cells:
        tr = cell.train
        fit = fit_cell(
            x[tr],
            y[tr],
            dates[tr],
            algorithm=algorithm,
            feature_names=feature_names,
            grid=grid,
            inner_splits=inner_splits,
            seed=seed,
            alpha=alpha,
        )
        with threadpool_limits(limits=1):
            pred = fit.predict(x[cell.test])
        counts["cells"] += 1
        counts["fits"] += fit.n_fits
        counts["points"] += fit.n_points
        counts["no_inner_cv"] += int(not fit.inner_splits)
        counts["constant"] += int(fit.constant)
        caught.update(fit.warnings)
        config = {**fit.best_params, "inner_folds": len(fit.inner_splits), "n_train": tr.size}
        frames.append(
            prediction_frame(
                group,
                cell,
                pred,
                fit.halfwidth,
                method=algorithm,
                feature_set=feature_set,
                config=config,
            )
        )
    counts["warnings"] = dict(caught)
    return pd.concat(frames, ignore_index=True), counts


def n_configurations(algorithms: Sequence[str], feature_sets: Sequence[str], grid: str) -> int:
    """Configurations of a grid: sum over algorithms x feature sets of the grid points."""
    _check_grid(grid)
    return len(feature_sets) * sum(_algorithm(a).n_points(grid) for a in algorithms)


def run_baseline_grid(
    df: pd.DataFrame,
    *,
    evaluation: EvaluationConfig,
    algorithms: Sequence[str],
    feature_sets: Sequence[str],
    fractions: Sequence[float],
    n_jobs: int = 1,
    verbose: int = 0,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Run every baseline cell and return test-fold predictions with conformal intervals.

    Args:
        df: Labelled table (``row_id``, ``dataset``, ``horizon``, ``time_utc``,
            ``log10_microcystin``, ``Rrs_<nm>`` in sr-1, optional ``dt_hours`` and ``aux_*``).
            Splits are computed per dataset x horizon on its rows in table order.
        evaluation: The shared protocol: ``seeds`` (each gives its own outer split, subsample
            and inner folds), ``n_splits`` (outer date-grouped folds), ``inner_splits`` (inner
            date-grouped folds for tuning and conformal calibration), ``interval_alpha``
            (conformal miscoverage: intervals at level ``1 - alpha``) and ``grid`` (``"demo"``,
            small and fast, or ``"full"`` hyper-parameter grids).
        algorithms: Names in :data:`ALGORITHMS`.
        feature_sets: Feature-set names (see :mod:`spectm.evaluate.features`).
        fractions: Label fractions of the outer training part, each in (0, 1].
        n_jobs: Parallel workers (joblib) over dataset x horizon x feature set x algorithm x seed.
        verbose: joblib progress messages (0 = silent; 10 = one line per finished task).

    Returns:
        Predictions (columns :data:`PREDICTION_COLUMNS`, one row per test prediction) and a
        run-info dict: ``n_configurations`` (algorithms x feature sets x grid points),
        ``n_cells``, ``n_fits`` (pipeline fits actually run), timings and settings.
    """
    seeds, n_splits, inner_splits = evaluation.seeds, evaluation.n_splits, evaluation.inner_splits
    alpha, grid = evaluation.interval_alpha, evaluation.grid
    _check_grid(grid)
    for a in algorithms:
        _algorithm(a)
    check_fractions(fractions)
    t0 = time.perf_counter()
    tasks = []
    n_rows: dict[str, int] = {}
    for group in labelled_groups(df):
        n_rows[group.key] = len(group.table)
        for fs in feature_sets:
            x, names = build_features(group.table, fs)
            for algo in algorithms:
                for seed in seeds:
                    tasks.append((x, names, group, algo, fs, int(seed)))
    results = Parallel(n_jobs=n_jobs, verbose=verbose)(
        delayed(_run_task)(
            x,
            names,
            group,
            algorithm=algo,
            feature_set=fs,
            seed=seed,
            fractions=list(fractions),
            n_splits=n_splits,
            inner_splits=inner_splits,
            grid=grid,
            alpha=alpha,
            protocols=evaluation.protocols,
        )
        for x, names, group, algo, fs, seed in tasks
    )
    frames = [r[0] for r in results]
    caught: Counter[str] = Counter()
    for r in results:
        caught.update(r[1]["warnings"])
    predictions = concat_predictions(frames)
    info: dict[str, Any] = {
        "grid": grid,
        "algorithms": list(algorithms),
        "feature_sets": list(feature_sets),
        "grid_points": {a: _algorithm(a).n_points(grid) for a in algorithms},
        "n_configurations": n_configurations(algorithms, feature_sets, grid),
        "n_cells": sum(r[1]["cells"] for r in results),
        "n_fits": sum(r[1]["fits"] for r in results),
        "n_grid_points_searched": sum(r[1]["points"] for r in results),
        "n_cells_without_inner_cv": sum(r[1]["no_inner_cv"] for r in results),
        "n_cells_constant": sum(r[1]["constant"] for r in results),
        "warnings": dict(caught),
        "n_rows": n_rows,
        "fractions": [float(f) for f in fractions],
        "seeds": [int(s) for s in seeds],
        "protocols": list(evaluation.protocols),
        "n_splits": n_splits,
        "inner_splits": inner_splits,
        "alpha": alpha,
        "inner_cv": (
            "exhaustive grid + the constant (training mean; the best grid point must beat it by "
            f"{CONSTANT_MARGIN_SE:g} SE), GroupKFold on sampling dates, mean fold MSE (log10)"
        ),
        "conformal": (
            "CV-residual split conformal: out-of-fold |residuals| of the chosen candidate; "
            "the largest residual when the rank exceeds n"
        ),
        "n_jobs": n_jobs,
        "sklearn_version": sklearn.__version__,
        "wall_seconds": round(time.perf_counter() - t0, 2),
    }
    return predictions, info
