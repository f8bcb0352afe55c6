import json
import math

import numpy as np
import pandas as pd
import pytest
from sklearn.compose import ColumnTransformer
from sklearn.decomposition import PCA
from sklearn.dummy import DummyRegressor
from sklearn.model_selection import GridSearchCV, cross_val_predict, cross_val_score

from spectm.data_files import data_path
from spectm.evaluate.baselines import (
    ALGORITHMS,
    fit_cell,
    inner_date_splits,
    make_pipeline,
    n_configurations,
    param_grid,
    run_baseline_grid,
)
from spectm.evaluate.conformal import conformal_halfwidth
from spectm.evaluate.features import (
    FEATURE_SETS,
    ColumnPCA,
    available_feature_sets,
    build_features,
    model_width,
    parse_feature_set,
)
from spectm.evaluate.protocol import PREDICTION_COLUMNS
from spectm.evaluate.splits import date_groups
from spectm.evaluate.summary import summarise
from spectm.spectral.bands import pace_oci_rrs_wavelengths
from spectm.tables import rrs_columns
from tests.conftest import evaluation

CELL = {"grid": "demo", "inner_splits": 5, "seed": 0, "alpha": 0.1}
"""fit_cell settings of these tests."""


def synthetic(
    n_dates=30, per_date=4, wavelengths=None, noise=0.1, seed=0, aux=False, horizon="current_week"
):
    """Labelled table whose log10 target is linear in three smooth spectral components."""
    rng = np.random.default_rng(seed)
    wl = np.linspace(400.0, 700.0, 24) if wavelengths is None else np.asarray(wavelengths)
    n = n_dates * per_date
    latent = rng.normal(size=(n, 3))
    u = (wl - wl.min()) / np.ptp(wl)
    basis = np.stack([np.ones_like(u), np.sin(np.pi * u), np.cos(2 * np.pi * u)])  # (3, n_bands)
    rrs = 0.006 + 0.001 * latent @ basis + 1e-6 * rng.normal(size=(n, wl.size))
    y = latent @ np.array([0.6, -0.4, 0.3]) + noise * rng.normal(size=n)
    day = np.repeat(pd.date_range("2024-06-03", periods=n_dates, freq="2D", tz="UTC"), per_date)
    time = day + pd.to_timedelta(rng.uniform(15, 20, n), unit="h")
    dt = rng.choice([-30.0, -6.0, 12.0, 40.0, 70.0, np.nan], size=n)
    df = pd.DataFrame(
        {
            "row_id": np.arange(n),
            "station": rng.choice(["WE2", "WE4", "WE8", "WE12"], size=n),
            "time_utc": time,
            "label_time_utc": time + pd.to_timedelta(np.nan_to_num(dt), unit="h"),
            "dt_hours": dt,
            "horizon": horizon,
            "microcystin_ugL": 10.0**y,
            "log10_microcystin": y,
            "censored": False,
            "lat": 41.7,
            "lon": -83.2,
            "dataset": "synthetic",
        }
    )
    df = pd.concat([df, pd.DataFrame(rrs, columns=rrs_columns(wl))], axis=1)
    if aux:
        df["aux_wind_ms"] = rng.uniform(0, 8, n)
        df["aux_temp_c"] = 20 + latent[:, 0]
    return df


def shipped_dataset():
    raw = pd.read_csv(
        data_path("pace_oci", "lake_erie_pace_oci_l2aop_rrs_glerl_matchups_2024_2025.csv")
    )
    raw = raw[raw.label_source != "assumed_zero_offseason_no_insitu"].reset_index(drop=True)
    pm = raw["particulate_microcystin_ugL"].astype(float)
    meta = pd.DataFrame(
        {
            "row_id": np.arange(len(raw)),
            "time_utc": pd.to_datetime(raw.granule_time_utc, utc=True),
            "horizon": "current_week",
            "log10_microcystin": np.log10(pm),
            "dataset": "pace_glerl",
        }
    )
    return pd.concat([meta, raw[[c for c in raw.columns if c.startswith("Rrs_")]]], axis=1)


# ---------------------------------------------------------------- features


def test_feature_sets_on_pace_bands():
    df = synthetic(n_dates=4, per_date=2, wavelengths=pace_oci_rrs_wavelengths(), aux=True)
    x, names = build_features(df, "s2_srf")
    assert names == [f"s2srf_B0{i}" for i in range(1, 6)]  # B06-B12 beyond 719 nm: dropped
    assert x.shape == (8, 5) and np.isfinite(x).all()
    assert build_features(df, "s2_naive")[1][-1] == "s2naive_B05"
    x, names = build_features(df, "indices")
    assert "PC_700_600" not in names and "MCI" not in names and "NDCI" in names
    x, names = build_features(df, "rrs_paper")
    assert x.shape == (8, 122) and names[0] == "paper_Rrs_415"
    x, names = build_features(df, "indices+s2_srf+aux")
    assert names[-2:] == ["aux_wind_ms", "aux_temp_c"] and x.shape[1] == len(names)
    assert build_features(df, "rrs_native")[0].shape == (8, 172)


def test_available_feature_sets_add_aux_only_when_present():
    assert available_feature_sets(synthetic(n_dates=2)) == list(FEATURE_SETS)
    sets = available_feature_sets(synthetic(n_dates=2, aux=True))
    assert "aux" in sets and "indices+s2_srf+aux" in sets
    with pytest.raises(ValueError, match="aux_"):
        build_features(synthetic(n_dates=2), "aux")


def test_feature_errors_name_the_problem():
    df = synthetic(n_dates=3, per_date=2)
    df.loc[4, "Rrs_400"] = np.nan
    with pytest.raises(ValueError, match=r"'Rrs_400'.*row_id \[4\]"):
        build_features(df, "rrs_native")
    with pytest.raises(ValueError, match="unknown block"):
        parse_feature_set("indices+nope")
    with pytest.raises(ValueError, match="repeats"):
        parse_feature_set("indices+indices")


def test_shipped_table_builds_every_feature_set():
    df = shipped_dataset()
    assert len(df) == 178  # 183 shipped rows less the 5 assumed-zero ones
    for fs in available_feature_sets(df):
        x, names = build_features(df, fs)
        assert x.shape == (178, len(names)) and np.isfinite(x).all(), fs


def test_pca_is_fitted_inside_the_pipeline_on_training_rows_only():
    df = synthetic(n_dates=10, per_date=3)
    x, names = build_features(df, "pca_rrs")
    y = df.log10_microcystin.to_numpy()
    dates = date_groups(df.time_utc)
    train = np.flatnonzero(np.isin(dates, np.unique(dates)[:6]))
    cell = fit_cell(
        x[train], y[train], dates[train], algorithm="ridge", feature_names=names, **CELL
    )
    pca = cell.model.named_steps["features"]
    assert np.allclose(pca.mean_, x[train].mean(axis=0))  # the training rows, and only them
    assert not np.allclose(pca.mean_, x.mean(axis=0))
    assert pca.components_.shape[0] <= min(t.size for t, _ in cell.inner_splits)


# ---------------------------------------------------------------- grid


def test_param_grid_caps_sample_and_feature_bounded_values():
    assert param_grid("knn", "demo", n_features=5, n_train=4) == {
        "model__n_neighbors": [4],
        "model__weights": ["distance"],
    }
    assert param_grid("pls", "full", n_features=3, n_train=50)["model__n_components"] == [1, 2, 3]
    assert param_grid("pls", "full", n_features=30, n_train=3)["model__n_components"] == [1, 2]
    assert param_grid("ridge", "full", n_features=1, n_train=2)["model__alpha"][0] == 0.01
    with pytest.raises(ValueError, match="unknown baseline grid"):
        param_grid("ridge", "huge", n_features=3, n_train=3)


def test_configuration_count():
    assert len(ALGORITHMS) == 8
    demo = {a: ALGORITHMS[a].n_points("demo") for a in ALGORITHMS}
    assert demo["ridge"] == 5 and demo["lasso"] == 3 and demo["elasticnet"] == 1
    assert n_configurations(["ridge", "knn"], ["a", "b", "c"], "demo") == 3 * (5 + 2)
    assert n_configurations(["svr"], ["a"], "full") == 4 * 4 * 2
    full = sum(ALGORITHMS[a].n_points("full") for a in ALGORITHMS)
    assert n_configurations(list(ALGORITHMS), ["a"] * 2, "full") == 2 * full


def test_inner_cv_groups_are_dates():
    df = synthetic(n_dates=12, per_date=5)
    x, names = build_features(df, "rrs_native")
    dates = date_groups(df.time_utc)
    y = df.log10_microcystin.to_numpy()
    cell = fit_cell(x, y, dates, algorithm="ridge", feature_names=names, **{**CELL, "seed": 3})
    assert len(cell.inner_splits) == 5 and len(cell.cv_mse) == 5  # the grid; constant apart
    assert np.isfinite(cell.constant_mse) and not cell.constant
    validated = np.concatenate([te for _, te in cell.inner_splits])
    assert np.array_equal(np.sort(validated), np.arange(len(df)))
    for tr, te in cell.inner_splits:
        assert set(dates[tr]).isdisjoint(dates[te])
    assert cell.n_fits == 5 * 5 + 1  # search (its out-of-fold predictions calibrate) + refit
    assert inner_date_splits(np.array(["d1"] * 4), n_splits=3, seed=0) == []


@pytest.mark.parametrize(
    ("algorithm", "features"),
    [
        ("ridge", "rrs_native"),
        ("knn", "pca_rrs+indices"),
        ("svr", "rrs_native"),
        ("random_forest", "rrs_native"),
    ],
)
def test_search_and_interval_match_sklearn_gridsearch_and_cross_val_predict(algorithm, features):
    """Our inner search picks GridSearchCV's point; its residuals are cross_val_predict's."""
    df = synthetic(n_dates=14, per_date=4, noise=0.3)
    x, names = build_features(df, features)
    y, dates = df.log10_microcystin.to_numpy(), date_groups(df.time_utc)
    cell = fit_cell(
        x, y, dates, algorithm=algorithm, feature_names=names, **{**CELL, "seed": 2, "alpha": 0.2}
    )
    n_min = min(len(tr) for tr, _ in cell.inner_splits)
    grid = param_grid(algorithm, "demo", n_features=model_width(names, n_min), n_train=n_min)
    pipe = make_pipeline(algorithm, names, n_train=n_min, seed=2)
    ref = GridSearchCV(pipe, grid, scoring="neg_mean_squared_error", cv=cell.inner_splits).fit(x, y)
    assert not cell.constant  # the signal beats the training mean by far
    assert cell.best_params == {k.split("__", 1)[1]: v for k, v in ref.best_params_.items()}
    mean_model = cross_val_score(
        DummyRegressor(), x, y, cv=cell.inner_splits, scoring="neg_mean_squared_error"
    )
    assert cell.constant_mse == pytest.approx(-mean_model.mean(), rel=1e-12)
    assert cell.constant_mse > min(cell.cv_mse)
    assert np.allclose(cell.cv_mse, -ref.cv_results_["mean_test_score"], rtol=1e-10)
    oof = cross_val_predict(ref.best_estimator_, x, y, cv=cell.inner_splits)
    assert cell.halfwidth == pytest.approx(conformal_halfwidth(np.abs(y - oof), alpha=0.2))
    assert np.allclose(cell.model.predict(x), ref.best_estimator_.predict(x))


@pytest.mark.parametrize(("n", "k"), [(40, 10), (6, 5), (100, 1)])
def test_column_pca_matches_sklearn_columntransformer_pca(n, k):
    rng = np.random.default_rng(n)
    x = np.column_stack(
        [rng.normal(size=(n, 3)) @ rng.normal(size=(3, 30)), rng.normal(size=(n, 4))]
    )
    cols = list(range(2, 32))  # the PCA block sits between passthrough columns
    x = x[:, [30, 31, *range(30), 32, 33]]
    ours = ColumnPCA(columns=tuple(cols), n_components=k).fit(x[: n // 2 + k])
    ref = ColumnTransformer([("pca", PCA(k, svd_solver="full"), cols)], remainder="passthrough")
    ref.fit(x[: n // 2 + k])
    assert np.allclose(ours.transform(x), ref.transform(x), atol=1e-9)
    with pytest.raises(ValueError, match="expected 34 columns"):
        ours.transform(x[:, :5])
    with pytest.raises(ValueError, match="n_components"):
        ColumnPCA(columns=(0, 1), n_components=3).fit(x)


@pytest.mark.parametrize("features", ["rrs_native", "pca_rrs"])
def test_single_date_training_part_uses_the_constant(features):
    df = synthetic(n_dates=1, per_date=6)
    x, names = build_features(df, features)
    y = df.log10_microcystin.to_numpy()
    cell = fit_cell(x, y, date_groups(df.time_utc), algorithm="ridge", feature_names=names, **CELL)
    assert cell.constant and cell.best_params == {"constant": True}
    assert cell.n_fits == 1 and cell.n_points == 0 and cell.inner_splits == []
    assert math.isnan(cell.constant_mse) and cell.cv_mse == []
    assert np.allclose(cell.model.predict(x[::-1] + 1.0), sum(y) / 6)
    assert isinstance(cell.model.named_steps["model"], DummyRegressor)
    assert ("features" in cell.model.named_steps) == (features == "pca_rrs")
    # leave-one-out residuals of the mean; alpha = 0.1, n = 6: rank ceil(7 * 0.9) = 7 > 6, so the
    # largest one
    loo = [abs(y[i] - (sum(y) - y[i]) / 5) for i in range(6)]
    assert cell.halfwidth == pytest.approx(max(loo), rel=1e-12)
    one = fit_cell(
        x[:1], y[:1], date_groups(df.time_utc)[:1], algorithm="ridge", feature_names=names, **CELL
    )
    assert one.constant and math.isinf(one.halfwidth)  # one row: nothing to calibrate on


def test_ridge_recovers_a_linear_signal_end_to_end():
    df = synthetic(n_dates=30, per_date=4, noise=0.1)
    pred, info = run_baseline_grid(
        df,
        algorithms=["ridge"],
        feature_sets=["rrs_native"],
        fractions=[1.0],
        evaluation=evaluation(seeds=(0,), n_splits=5, inner_splits=3),
    )
    assert list(pred.columns) == list(PREDICTION_COLUMNS)
    assert sorted(pred.row_id) == list(range(len(df)))  # each row predicted once
    s = summarise(pred)
    assert s.loc[s.dt_stratum == "all", "r2_log10"].item() > 0.8
    assert info["n_cells"] == 5 and info["n_fits"] == 5 * (5 * 3 + 1)
    assert info["n_cells_constant"] == 0
    assert json.loads(pred.config.iloc[0])["inner_folds"] == 3


def test_every_algorithm_runs_with_tiny_fractions_and_counts_add_up():
    df = synthetic(n_dates=12, per_date=3, aux=True)
    algos = list(ALGORITHMS)
    pred, info = run_baseline_grid(
        df,
        algorithms=algos,
        feature_sets=["pca_rrs+aux"],
        fractions=[0.1, 1.0],
        evaluation=evaluation(seeds=(1,), n_splits=2, inner_splits=3),
    )
    assert len(pred) == len(df) * 2 * len(algos)
    assert info["n_cells"] == 2 * 2 * len(algos)
    assert info["n_configurations"] == sum(ALGORITHMS[a].n_points("demo") for a in algos)
    assert set(pred.method) == set(algos)
    assert np.isfinite(pred.y_pred_log10).all()
    assert (pred.pi_hi_log10 >= pred.pi_lo_log10).all()
    assert np.isfinite(pred.pi_hi_log10 - pred.pi_lo_log10).all()  # 5 rows: capped rank
    # the date groups of the outer folds never mix
    for _, g in pred.groupby(["method", "fraction", "seed"]):
        assert g.groupby("date").fold.nunique().max() == 1


def test_conformal_coverage_near_nominal():
    df = synthetic(n_dates=60, per_date=5, noise=0.4, seed=5)
    pred, _ = run_baseline_grid(
        df,
        algorithms=["ridge"],
        feature_sets=["rrs_native"],
        fractions=[1.0],
        evaluation=evaluation(seeds=(0, 1), n_splits=5, inner_splits=5, interval_alpha=0.2),
    )
    s = summarise(pred)
    cov = s.loc[s.dt_stratum == "all", "pi_coverage"]
    assert 0.74 <= cov.mean() <= 0.88


def test_bad_input_is_named():
    df = synthetic(n_dates=3)
    kw = dict(algorithms=["ridge"], feature_sets=["rrs_native"], fractions=[1.0])
    kw["evaluation"] = evaluation(seeds=(0,), n_splits=2, inner_splits=2)
    with pytest.raises(ValueError, match="time_utc"):
        run_baseline_grid(df.drop(columns="time_utc"), **kw)
    bad = df.copy()
    bad.loc[2, "log10_microcystin"] = np.nan
    with pytest.raises(ValueError, match=r"row_id \[2\]"):
        run_baseline_grid(bad, **kw)
    with pytest.raises(ValueError, match="unknown baseline algorithm"):
        run_baseline_grid(df, **{**kw, "algorithms": ["xgb"]})


def test_horizons_are_split_separately():
    a = synthetic(n_dates=8, per_date=3, seed=1)
    b = synthetic(n_dates=6, per_date=2, seed=2, horizon="8day_ahead")
    pred, info = run_baseline_grid(
        pd.concat([a, b], ignore_index=True),
        algorithms=["ridge"],
        feature_sets=["rrs_native"],
        fractions=[1.0],
        evaluation=evaluation(seeds=(0,), n_splits=3, inner_splits=2),
    )
    assert info["n_rows"] == {"synthetic/8day_ahead": 12, "synthetic/current_week": 24}
    assert pred.groupby("horizon").size().to_dict() == {"8day_ahead": 12, "current_week": 24}
