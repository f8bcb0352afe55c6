"""SpecTM microcystin fine-tuning: the outer grid (frozen / full) and the deployable model."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
import torch

from spectm._io import write_netcdf
from spectm.evaluate.baselines import fit_cell
from spectm.evaluate.conformal import conformal_halfwidth, empirical_coverage
from spectm.evaluate.protocol import PREDICTION_COLUMNS, write_predictions
from spectm.evaluate.splits import date_grouped_splits, date_groups
from spectm.io.corpus import write_corpus
from spectm.model.pretrained import embed, load_deployable, load_pretrained
from spectm.spectral.bands import pace_oci_rrs_wavelengths
from spectm.tables import rrs_columns
from spectm.train.corpus import build_corpus
from spectm.train.deploy import train_deployable
from spectm.train.finetune import (
    FullConfig,
    fit_full,
    inner_validation_split,
    linear_probe,
    spectra_on_model_grid,
)
from spectm.train.finetune_grid import run_finetune_grid
from spectm.train.pretrain import pretrain
from tests.conftest import chip_dataset, evaluation, tiny_pretrain_config

PROBE = {"ridge_grid": "full", "inner_splits": 5}
"""Ridge settings of the LP-FT probe in these tests."""
DEPLOY = {"evaluation": evaluation(seeds=(0,), inner_splits=5, grid="full"), "device": "cpu"}
DEPLOY["full"] = FullConfig(epochs=1, **PROBE)

NATIVE = pace_oci_rrs_wavelengths()
CPU = torch.device("cpu")


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def synth_spectra(latent: np.ndarray, wl: np.ndarray) -> np.ndarray:
    """Turbid-water-like Rrs (sr-1) from latent (n, 3) = amplitude, chl-a, phycocyanin in [0, 1]."""
    w = np.asarray(wl, dtype=float)[None, :]
    amp, chl, pc = (latent[:, [k]] for k in range(3))
    base = (0.004 + 0.008 * amp) * np.exp(-(((w - 560) / 90) ** 2)) + 0.001
    dips = (1 - 0.25 * pc * np.exp(-(((w - 622) / 10) ** 2))) * (
        1 - 0.35 * chl * np.exp(-(((w - 672) / 9) ** 2))
    )
    return base * dips + 0.004 * chl * np.exp(-(((w - 705) / 10) ** 2))


def labelled(n_dates: int = 15, per_date: int = 5, seed: int = 0) -> pd.DataFrame:
    """Labelled dataset (contract columns); log10 target follows brightness and chl-a."""
    rng = np.random.default_rng(seed)
    n = n_dates * per_date
    latent = rng.uniform(0, 1, (n, 3))
    y = -1.0 + 1.5 * latent[:, 0] + 0.5 * latent[:, 1] + 0.1 * rng.normal(size=n)
    day = np.repeat(pd.date_range("2024-06-03", periods=n_dates, freq="3D", tz="UTC"), per_date)
    time = day + pd.to_timedelta(rng.uniform(15, 19, n), unit="h")
    meta = pd.DataFrame(
        {
            "row_id": [f"syn:{i}" for i in range(n)],
            "station": rng.choice(["WE2", "WE4", "WE8"], size=n),
            "time_utc": time,
            "label_time_utc": time,
            "dt_hours": rng.choice([-20.0, 5.0, 50.0], size=n),
            "horizon": "current_week",
            "microcystin_ugL": 10.0**y,
            "log10_microcystin": y,
            "censored": False,
            "lat": 41.7,
            "lon": -83.2,
            "dataset": "synthetic",
        }
    )
    rrs = pd.DataFrame(synth_spectra(latent, NATIVE), columns=rrs_columns(NATIVE))
    return pd.concat([meta, rrs], axis=1)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A tiny SpecTM pretrained for a few steps on generated chips (the real pretraining path)."""
    root = tmp_path_factory.mktemp("pretrained")
    rng = np.random.default_rng(1)
    paths = []
    for day in range(1, 5):
        rrs = synth_spectra(rng.uniform(0, 1, (48, 3)), NATIVE).reshape(6, 8, -1)
        lat, lon = np.meshgrid(
            41.5 + 0.01 * np.arange(6), -83.2 + 0.01 * np.arange(8), indexing="ij"
        )
        ds = chip_dataset(rrs, lat, lon, NATIVE, pd.Timestamp(f"2024-07-{day:02d}T18:00:00Z"))
        paths.append(write_netcdf(ds, root / f"chip{day}.nc"))
    corpus = write_corpus(
        build_corpus(paths, val_fraction=0.25, seed=0, grid="paper", max_pixels=200_000),
        root / "corpus.parquet",
    )
    cfg = tiny_pretrain_config(batch_size=64, max_epochs=2)
    return pretrain(corpus, root / "model", cfg)


def test_frozen_grid_same_splits_as_baselines_and_no_date_leak(checkpoint, tmp_path):
    df = labelled()
    seeds, fractions, k = (0, 1), (0.4, 1.0), 3
    pred = run_finetune_grid(
        df,
        checkpoint,
        evaluation=evaluation(seeds=seeds, n_splits=k, inner_splits=5),
        modes=("frozen",),
        fractions=fractions,
        full_fractions=(),
        full=FullConfig(epochs=1, ridge_grid="demo", inner_splits=5),
        device="cpu",
        pooling="cls",
        probe_inputs="embedding",
        num_threads=1,
    )
    assert list(pred.columns) == list(PREDICTION_COLUMNS)
    assert set(pred["method"]) == {"spectm_targeted_frozen"}
    assert set(pred["feature_set"]) == {"spectm_paper"}
    assert np.isfinite(pred["y_pred_log10"]).all()
    dates = date_groups(df["time_utc"])
    by_id = dict(zip(df["row_id"], dates, strict=True))
    for seed in seeds:
        splits = date_grouped_splits(dates, n_splits=k, seed=seed)
        for fraction in fractions:
            cell = pred[(pred["seed"] == seed) & np.isclose(pred["fraction"], fraction)]
            assert sorted(cell["row_id"]) == sorted(df["row_id"])  # every row once per seed
            for fold, (_, test_idx) in enumerate(splits):
                rows = cell[cell["fold"] == fold]
                assert set(rows["row_id"]) == set(df["row_id"].iloc[test_idx])
                test_dates = set(rows["date"])
                assert test_dates == {by_id[r] for r in rows["row_id"]}
                train_dates = {by_id[r] for r in df["row_id"] if r not in set(rows["row_id"])}
                assert not test_dates & train_dates
    full = pred[np.isclose(pred["fraction"], 1.0)]
    cov = empirical_coverage(full["y_true_log10"], full["pi_lo_log10"], full["pi_hi_log10"])
    assert 0.7 <= cov <= 1.0
    assert (full["pi_hi_log10"] - full["pi_lo_log10"] > 0).all()
    conf = json.loads(pred["config"].iloc[0])
    assert conf["mode"] == "frozen" and "alpha" in conf and conf["n_train"] > 0
    write_predictions(pred, tmp_path / "p.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "p.parquet"), pred)


@pytest.fixture(scope="module")
def inputs(checkpoint):
    model, meta = load_pretrained(checkpoint)
    df = labelled(seed=2)
    x = spectra_on_model_grid(df, meta)
    return model, meta, x, df["log10_microcystin"].to_numpy(), date_groups(df["time_utc"])


def test_full_finetuning_lowers_training_loss_and_calibrates(inputs):
    model, meta, x, y, dates = inputs
    before = {k: v.clone() for k, v in model.state_dict().items()}
    cfg = FullConfig(
        epochs=4, encoder_lr=1e-3, head_lr=1e-2, batch_size=16, probe_init=False, **PROBE
    )
    fit = fit_full(model, meta, x, y, dates, cfg=cfg, seed=0, alpha=0.1, device=CPU)
    assert [h["epoch"] for h in fit.history] == [0, 1, 2, 3, 4]
    assert fit.history[0]["train_mse"] == pytest.approx(1.0)  # zero head: the mean
    assert fit.history[-1]["train_mse"] < 0.8 * fit.history[0]["train_mse"]
    assert fit.n_val == 15 and fit.n_fit == 60  # 3 of 15 dates held out
    best = min(h["val_mse"] for h in fit.history)
    assert fit.history[fit.best_epoch]["val_mse"] == best
    assert np.isfinite(fit.halfwidth) and fit.halfwidth > 0
    resid = np.abs(fit.predict(x) - y)
    fit_idx, val_idx = inner_validation_split(dates, val_fraction=0.2, seed=0)
    assert fit.halfwidth == conformal_halfwidth(resid[val_idx], alpha=0.1)
    assert not set(dates[fit_idx]) & set(dates[val_idx])
    for k, v in model.state_dict().items():  # the pretrained encoder is left untouched
        assert torch.equal(v, before[k]), k


def test_probe_initialised_head_starts_at_the_linear_probe(inputs):
    model, meta, x, y, dates = inputs
    cfg = FullConfig(epochs=1, batch_size=16, ridge_grid="demo", inner_splits=3)
    fit = fit_full(model, meta, x, y, dates, cfg=cfg, seed=0, alpha=0.1, device=CPU)
    z = embed(model, meta, x).astype(float)
    fit_idx, _ = inner_validation_split(dates, val_fraction=0.2, seed=0)
    ys = (y[fit_idx] - y[fit_idx].mean()) / y[fit_idx].std()
    w, b, cell = linear_probe(
        z[fit_idx], ys, dates[fit_idx], grid="demo", inner_splits=3, seed=0, alpha=0.1
    )
    np.testing.assert_allclose(z[fit_idx] @ w + b, cell.model.predict(z[fit_idx]), atol=1e-9)
    probe_mse = np.mean((z[fit_idx] @ w + b - ys) ** 2)
    assert fit.history[0]["train_mse"] == pytest.approx(probe_mse, rel=1e-3)
    assert probe_mse < 0.9  # the embeddings carry the brightness signal


def test_grid_runs_next_season_and_records_the_pretraining_seed(checkpoint):
    df = labelled(n_dates=8, per_date=4, seed=5)
    years = np.where(np.arange(len(df)) < 16, 2024, 2025)  # first 4 dates 2024, the rest 2025
    df["time_utc"] = [t.replace(year=int(y)) for t, y in zip(df["time_utc"], years, strict=True)]
    pred = run_finetune_grid(
        df,
        checkpoint,
        evaluation=evaluation(seeds=(0,), n_splits=2, protocols=("date_cv", "next_season")),
        modes=("frozen",),
        fractions=(1.0,),
        full_fractions=(),
        full=FullConfig(epochs=1, **PROBE),
        device="cpu",
        pooling="mean",
        probe_inputs="embedding+indices",
        num_threads=1,
    )
    assert set(pred["pretrain_seed"]) == {0}  # tiny_pretrain_config's seed
    season = pred[pred["protocol"] == "next_season"]
    test_years = {str(d)[:4] for d in season["date"]}
    assert test_years == {"2025"} and len(season) == 16
    cv = pred[pred["protocol"] == "date_cv"]
    assert sorted(cv["row_id"]) == sorted(df["row_id"])
    conf = json.loads(season["config"].iloc[0])
    assert conf["pooling"] == "mean" and conf["probe_inputs"] == "embedding+indices"


def test_probe_features_append_the_indices(checkpoint):
    from spectm.evaluate.features import build_features
    from spectm.model.pretrained import load_pretrained
    from spectm.train.finetune_grid import probe_features

    df = labelled(seed=6)
    model, meta = load_pretrained(checkpoint)
    x = spectra_on_model_grid(df, meta)
    z, names = probe_features(model, meta, x, df, "cls", "embedding")
    zi, names_i = probe_features(model, meta, x, df, "cls", "embedding+indices")
    idx, idx_names = build_features(df, "indices")
    assert names_i == names + idx_names
    np.testing.assert_array_equal(zi, np.hstack([z, idx]))
    with pytest.raises(ValueError, match="unknown probe_inputs 'indices'"):
        probe_features(model, meta, x, df, "cls", "indices")


def test_full_grid_runs_only_the_requested_fractions(checkpoint):
    df = labelled(n_dates=8, per_date=4, seed=3)
    pred = run_finetune_grid(
        df,
        checkpoint,
        evaluation=evaluation(seeds=(0,), n_splits=2, inner_splits=5),
        modes=("frozen", "full"),
        fractions=(0.5, 1.0),
        full_fractions=(1.0,),
        full=FullConfig(epochs=2, ridge_grid="demo", inner_splits=5),
        device="cpu",
        pooling="cls",
        probe_inputs="embedding",
        num_threads=1,
    )
    full = pred[pred["method"] == "spectm_targeted_full"]
    assert set(full["fraction"]) == {1.0} and len(full) == len(df)
    assert pred.attrs["n_full_fits"] == 2
    conf = json.loads(full["config"].iloc[0])
    assert conf["mode"] == "full" and conf["epochs"] == 2 and conf["epochs_run"] <= 2
    kw = dict(
        evaluation=evaluation(seeds=(0,)),
        full=FullConfig(epochs=1, **PROBE),
        device="cpu",
        pooling="cls",
        probe_inputs="embedding",
    )
    with pytest.raises(ValueError, match="not among fractions"):
        run_finetune_grid(
            df, checkpoint, fractions=(0.5,), modes=("frozen",), full_fractions=(1.0,), **kw
        )
    with pytest.raises(ValueError, match="unknown fine-tuning mode"):
        run_finetune_grid(
            df, checkpoint, fractions=(1.0,), modes=("linear",), full_fractions=(), **kw
        )


def test_deployable_frozen_roundtrip_matches_the_ridge_fit(checkpoint, tmp_path):
    df = labelled(seed=4)
    path = train_deployable(df, checkpoint, tmp_path / "dep" / "model.pt", mode="frozen", **DEPLOY)
    blob = torch.load(path, map_location="cpu", weights_only=True)  # tensors + plain types only
    assert blob["info"]["training"]["n"] == len(df)
    assert blob["info"]["training"]["date_min"] == "2024-06-03"
    config = json.loads((tmp_path / "dep" / "config.json").read_text())
    assert config["info"]["method"] == "spectm_targeted_frozen" and config["alpha"] == 0.1
    dep = load_deployable(path)
    x = spectra_on_model_grid(df, dep.meta)
    z = embed(dep.model, dep.meta, x).astype(float)
    names = [f"e{i}" for i in range(z.shape[1])]
    ref = fit_cell(
        z,
        df["log10_microcystin"].to_numpy(),
        date_groups(df["time_utc"]),
        algorithm="ridge",
        feature_names=names,
        grid="full",
        inner_splits=5,
        seed=0,
        alpha=0.1,
    )
    np.testing.assert_allclose(dep.predict_log10(x), ref.predict(z), atol=1e-8)
    assert dep.halfwidth_log10 == pytest.approx(ref.halfwidth)
    y = df["log10_microcystin"].to_numpy()
    high = dataclasses.replace(dep, head_bias=dep.head_bias + 100.0)  # far above any label
    assert np.all(high.predict_log10(x) == y.max())  # clipped to the largest training label
    with pytest.raises(ValueError, match="one horizon"):
        bad = pd.concat([df, df.assign(horizon="8day_ahead", row_id=df.row_id + "b")])
        train_deployable(bad, checkpoint, tmp_path / "x.pt", mode="frozen", **DEPLOY)


def test_deployable_full_roundtrip(checkpoint, tmp_path):
    df = labelled(seed=5)
    cfg = FullConfig(epochs=3, encoder_lr=1e-3, head_lr=1e-2, probe_init=False, **PROBE)
    path = train_deployable(
        df,
        checkpoint,
        tmp_path / "full.pt",
        mode="full",
        device="cpu",
        full=cfg,
        evaluation=evaluation(seeds=(1,), inner_splits=5, grid="full"),
    )
    dep = load_deployable(path)
    assert dep.info["mode"] == "full" and dep.info["fit"]["n_val"] == 15
    assert dep.info["fit"]["best_epoch"] > 0  # fine-tuning beat the zero head on held-out dates
    x = spectra_on_model_grid(df, dep.meta)
    model, meta = load_pretrained(checkpoint)
    y, dates = df["log10_microcystin"].to_numpy(), date_groups(df["time_utc"])
    fit = fit_full(model, meta, x, y, dates, cfg=cfg, seed=1, alpha=0.1, device=CPU)
    np.testing.assert_allclose(dep.predict_log10(x), fit.predict(x), atol=1e-5)
    assert dep.halfwidth_log10 == pytest.approx(fit.halfwidth, abs=1e-5)
    # the fine-tuned encoder, not the pretrained one, is stored
    moved = [not torch.equal(v, model.state_dict()[k]) for k, v in dep.model.state_dict().items()]
    assert any(moved)
