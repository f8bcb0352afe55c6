"""`spectm predict` and per-chip microcystin maps from a deployable SpecTM model."""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from spectm._io import write_netcdf, write_parquet
from spectm.io.corpus import write_corpus
from spectm.model.pretrained import load_deployable
from spectm.predict import (
    OUTPUT_COLUMNS,
    predict_chip,
    predict_file,
    predict_spectra,
)
from spectm.spectral.bands import pace_oci_rrs_wavelengths
from spectm.tables import rrs_columns
from spectm.train.corpus import build_corpus
from spectm.train.deploy import train_deployable
from spectm.train.finetune import FullConfig
from spectm.train.pretrain import pretrain
from tests.conftest import chip_dataset as contract_chip
from tests.conftest import evaluation, tiny_pretrain_config

NATIVE = pace_oci_rrs_wavelengths()


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def synth(latent: np.ndarray, wl: np.ndarray) -> np.ndarray:
    """Turbid-water-like Rrs (sr-1) at wavelengths wl (nm) from latent (n, 2) in [0, 1]."""
    w = np.asarray(wl, dtype=float)[None, :]
    amp, chl = latent[:, [0]], latent[:, [1]]
    base = (0.004 + 0.008 * amp) * np.exp(-(((w - 560) / 90) ** 2)) + 0.001
    dip = 1 - 0.35 * chl * np.exp(-(((w - 672) / 9) ** 2))
    return base * dip + 0.004 * chl * np.exp(-(((w - 705) / 10) ** 2))


def chip_dataset(rng, day: int, ny: int = 7, nx: int = 9) -> xr.Dataset:
    rrs = synth(rng.uniform(0, 1, (ny * nx, 2)), NATIVE).reshape(ny, nx, -1).astype(np.float32)
    lat, lon = np.meshgrid(41.5 + 0.01 * np.arange(ny), -83.2 + 0.01 * np.arange(nx), indexing="ij")
    return contract_chip(rrs, lat, lon, NATIVE, pd.Timestamp(f"2024-08-{day:02d}T18:15:00Z"))


@pytest.fixture(scope="module")
def model_path(tmp_path_factory):
    """Tiny SpecTM pretrained briefly on generated chips, then a frozen deployable model."""
    root = tmp_path_factory.mktemp("deploy")
    rng = np.random.default_rng(7)
    chips = [write_netcdf(chip_dataset(rng, d), root / f"c{d}.nc") for d in range(1, 4)]
    corpus = write_corpus(
        build_corpus(chips, val_fraction=0.34, seed=0, grid="paper", max_pixels=200_000),
        root / "corpus.parquet",
    )
    cfg = tiny_pretrain_config(batch_size=64, max_epochs=1)
    checkpoint = pretrain(corpus, root / "pre", cfg)
    n = 60
    latent = rng.uniform(0, 1, (n, 2))
    y = -1.0 + 1.5 * latent[:, 0] + 0.1 * rng.normal(size=n)
    time = pd.Timestamp("2024-07-01T17:00Z") + pd.to_timedelta(np.repeat(np.arange(12), 5), "D")
    df = pd.DataFrame(
        {
            "row_id": [f"r{i}" for i in range(n)],
            "time_utc": time,
            "horizon": "current_week",
            "log10_microcystin": y,
            "dataset": "synthetic",
        }
    )
    df = pd.concat([df, pd.DataFrame(synth(latent, NATIVE), columns=rrs_columns(NATIVE))], axis=1)
    return train_deployable(
        df,
        checkpoint,
        root / "dep" / "model.pt",
        evaluation=evaluation(seeds=(0,), inner_splits=5, grid="full"),
        mode="frozen",
        full=FullConfig(epochs=1, ridge_grid="full", inner_splits=5),
        device="cpu",
    )


def spectra_table(wl: np.ndarray, n: int = 6, seed: int = 3) -> pd.DataFrame:
    latent = np.random.default_rng(seed).uniform(0, 1, (n, 2))
    ids = pd.DataFrame({"sample_id": [f"s{i}" for i in range(n)], "station": "WE8"})
    return pd.concat([ids, pd.DataFrame(synth(latent, wl), columns=rrs_columns(wl))], axis=1)


def test_cli_predict_csv_columns_and_intervals(model_path, tmp_path):
    src = spectra_table(NATIVE)
    src.to_csv(tmp_path / "in.csv", index=False)
    out = pd.read_csv(predict_file(model_path, tmp_path / "in.csv", tmp_path / "out.csv"))
    assert list(out.columns) == ["sample_id", "station", *OUTPUT_COLUMNS]
    assert list(out["sample_id"]) == list(src["sample_id"])
    values = out[list(OUTPUT_COLUMNS)].to_numpy()
    assert np.isfinite(values).all()
    assert (out["microcystin_lo_ugL"] < out["microcystin_ugL"]).all()
    assert (out["microcystin_ugL"] < out["microcystin_hi_ugL"]).all()
    np.testing.assert_allclose(out["microcystin_ugL"], 10 ** out["log10_microcystin_pred"])
    assert np.allclose(out["interval_level"], 0.9)
    dep = load_deployable(model_path)
    ratio = out["microcystin_hi_ugL"] / out["microcystin_ugL"]
    np.testing.assert_allclose(np.log10(ratio), dep.halfwidth_log10, rtol=1e-9)
    # Parquet in, same answer
    write_parquet(src, tmp_path / "in.parquet")
    again = pd.read_csv(predict_file(model_path, tmp_path / "in.parquet", tmp_path / "o2.csv"))
    pd.testing.assert_frame_equal(again, out)


def test_input_at_other_wavelengths_is_resampled(model_path):
    native = predict_spectra(model_path, spectra_table(NATIVE))
    one_nm = predict_spectra(model_path, spectra_table(np.arange(400.0, 721.0)))
    diff = np.abs(native["log10_microcystin_pred"] - one_nm["log10_microcystin_pred"])
    assert diff.max() < 0.02  # the same smooth spectra, sampled on another grid


def test_grid_not_covered_is_a_clear_error(model_path, tmp_path):
    with pytest.raises(ValueError, match=r"missing 702\.5-717\.5 nm"):
        predict_spectra(model_path, spectra_table(np.arange(400.0, 701.0)))
    gap = np.concatenate([np.arange(400.0, 600.0), np.arange(650.0, 721.0)])
    with pytest.raises(ValueError, match=r"missing 599-650 nm \(gap"):
        predict_spectra(model_path, spectra_table(gap))
    spectra_table(NATIVE).drop(columns=rrs_columns(NATIVE)).to_csv(tmp_path / "no.csv")
    with pytest.raises(ValueError, match=r"no\.csv.*Rrs_<nm>"):
        predict_file(model_path, tmp_path / "no.csv", tmp_path / "o.csv")
    pretrained = next(model_path.parent.parent.glob("pre/model.pt"))
    with pytest.raises(ValueError, match="not a deployable"):
        predict_spectra(pretrained, spectra_table(NATIVE))
    with pytest.raises(ValueError, match="already has output column"):
        predict_spectra(model_path, spectra_table(NATIVE).assign(microcystin_ugL=1.0))


def test_rows_with_too_few_bands_get_nan(model_path):
    table = spectra_table(NATIVE, n=3)
    cols = rrs_columns(NATIVE)
    table.loc[1, cols[80:]] = np.nan  # most of the grid missing
    table.loc[2, cols[100]] = np.nan  # one band missing: a mask token
    out = predict_spectra(model_path, table)
    assert np.isnan(out.loc[1, list(OUTPUT_COLUMNS[:4])].astype(float)).all()
    assert np.isfinite(out.loc[[0, 2], "microcystin_ugL"]).all()


def test_predict_chip_nan_where_chip_nan(model_path, tmp_path):
    ds = chip_dataset(np.random.default_rng(11), 5)
    invalid = np.random.default_rng(12).random((7, 9)) < 0.3
    ds["Rrs"].values[invalid] = np.nan
    ds.attrs["spectm_demo"] = "generated replay granule"
    chip = write_netcdf(ds, tmp_path / "chip.nc")
    out_nc = predict_chip(
        model_path, chip, tmp_path / "mc.nc", tmp_path / "mc.png", device="cpu", chunk_pixels=10
    )
    with xr.open_dataset(out_nc, engine="h5netcdf") as res:
        res = res.load()
    mc = res["microcystin_ugL"].values
    assert res["microcystin_ugL"].dims == ("y", "x") and mc.dtype == np.float32
    assert (np.isnan(mc) == invalid).all()
    lo, hi = res["microcystin_lo_ugL"].values, res["microcystin_hi_ugL"].values
    assert (np.isnan(lo) == invalid).all() and (lo[~invalid] <= mc[~invalid]).all()
    assert (mc[~invalid] <= hi[~invalid]).all()
    np.testing.assert_allclose(res["lat"].values, ds["lat"].values)
    assert res.attrs["data_kind"] == "demo" and res.attrs["n_predicted_pixels"] == (~invalid).sum()
    assert res.attrs["granule"] == ds.attrs["granule"] and res.attrs["model_mode"] == "frozen"
    # the same pixels through the table path give the same numbers
    table = pd.DataFrame(ds["Rrs"].values[~invalid], columns=rrs_columns(NATIVE))
    direct = predict_spectra(model_path, table)["microcystin_ugL"].to_numpy()
    np.testing.assert_allclose(mc[~invalid], direct, rtol=1e-5)
    assert (tmp_path / "mc.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    del ds.attrs["spectm_demo"]
    real = write_netcdf(ds, tmp_path / "real.nc")
    predict_chip(model_path, real, tmp_path / "r.nc", tmp_path / "r.png")
    with xr.open_dataset(tmp_path / "r.nc", engine="h5netcdf") as res:
        assert res.attrs["data_kind"] == "real"
