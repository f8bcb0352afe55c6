"""`spectm predict` and per-chip microcystin maps from a deployable SpecTM model."""

import logging

import numpy as np
import pandas as pd
import pytest
import rasterio
import torch
import xarray as xr

from spectm._io import write_netcdf, write_parquet
from spectm.io.corpus import write_corpus
from spectm.model.pretrained import load_deployable
from spectm.predict import (
    OUTPUT_COLUMNS,
    domain_flags,
    ood_reasons,
    predict_chip,
    predict_file,
    predict_spectra,
)
from spectm.spectral.bands import pace_oci_rrs_wavelengths
from spectm.spectral.grids import paper_grid, resample_to_grid
from spectm.tables import rrs_columns
from spectm.train.corpus import build_corpus
from spectm.train.deploy import fit_domain_envelope, train_deployable
from spectm.train.finetune import FullConfig
from spectm.train.pretrain import pretrain
from tests.conftest import chip_dataset as contract_chip
from tests.conftest import evaluation, tiny_pretrain_config, turbid_spectra

NATIVE = pace_oci_rrs_wavelengths()
GRID3 = np.array([500.0, 600.0, 700.0])


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
    values = out[list(OUTPUT_COLUMNS[:5])].to_numpy()
    assert np.isfinite(values).all()
    assert not out["ood_flag"].any()  # spectra like the training ones
    assert out["ood_reason"].isna().all()  # "" is read back from CSV as missing
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
        model_path,
        chip,
        tmp_path / "mc.nc",
        tmp_path / "mc.png",
        device="cpu",
        chunk_pixels=10,
        out_tif=tmp_path / "mc.tif",
    )
    with xr.open_dataset(out_nc, engine="h5netcdf") as res:
        res = res.load()
    mc = res["microcystin_ugL"].values
    assert res["microcystin_ugL"].dims == ("y", "x") and mc.dtype == np.float32
    assert (np.isnan(mc) == invalid).all()
    lo, hi = res["microcystin_lo_ugL"].values, res["microcystin_hi_ugL"].values
    assert (np.isnan(lo) == invalid).all() and (lo[~invalid] <= mc[~invalid]).all()
    assert (mc[~invalid] <= hi[~invalid]).all()
    ood = res["ood_flag"].values  # in domain (0) where predicted, missing where not
    assert (np.isnan(ood) == invalid).all() and (ood[~invalid] == 0).all()
    assert res.attrs["n_ood_pixels"] == 0
    with rasterio.open(tmp_path / "mc.tif") as tif:
        assert tif.count == 4 and tif.crs.to_epsg() == 4326
        assert tif.descriptions[0].startswith("microcystin_ugL")
        assert tif.descriptions[3].startswith("ood_flag")
        tif_mc = tif.read(1)
    finite = tif_mc[np.isfinite(tif_mc)]  # every gridded value is one of the chip's estimates
    assert finite.size > 0 and np.isin(finite, mc[~invalid]).all()
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


# --------------------------------------------------------------------------- input domain

GRID_READ = (NATIVE >= 413.0) & (NATIVE <= 719.0)
"""Native bands the resampling onto the ``paper`` grid (415-717.5 nm) reads: 413 to 719 nm."""


def labelled_turbid(n: int, seed: int) -> pd.DataFrame:
    """A labelled current-week table of realistic turbid spectra (tests/conftest.py)."""
    rng = np.random.default_rng(seed)
    latent = rng.uniform(0, 1, (n, 3))
    y = -1.0 + 1.5 * latent[:, 0] + 0.1 * rng.normal(size=n)  # brightness: learnable
    time = pd.Timestamp("2024-07-01T17:00Z") + pd.to_timedelta(np.arange(n) // 5, "D")
    ids = pd.DataFrame(
        {
            "row_id": [f"t{seed}_{i}" for i in range(n)],
            "time_utc": time,
            "horizon": "current_week",
            "log10_microcystin": y,
            "dataset": "synthetic",
        }
    )
    spectra = pd.DataFrame(turbid_spectra(latent, NATIVE), columns=rrs_columns(NATIVE))
    return pd.concat([ids, spectra], axis=1)


@pytest.fixture(scope="module")
def turbid_model(model_path):
    """A frozen deployable trained on 200 turbid spectra (the tiny pretrained SpecTM)."""
    checkpoint = model_path.parent.parent / "pre" / "model.pt"
    return train_deployable(
        labelled_turbid(200, seed=21),
        checkpoint,
        model_path.parent.parent / "turbid" / "model.pt",
        evaluation=evaluation(seeds=(0,), inner_splits=5, grid="demo"),
        mode="frozen",
        full=FullConfig(epochs=1, ridge_grid="demo", inner_splits=5),
        device="cpu",
    )


def test_stored_envelope_is_the_training_quantiles(turbid_model):
    train = labelled_turbid(200, seed=21)
    env = load_deployable(turbid_model).envelope
    assert env is not None and env.n == 200
    x = resample_to_grid(train[rrs_columns(NATIVE)].to_numpy(), NATIVE, paper_grid(), what="t")
    np.testing.assert_allclose(env.lo, np.quantile(x, 0.005, axis=0), rtol=1e-12)
    np.testing.assert_allclose(env.hi, np.quantile(x, 0.995, axis=0), rtol=1e-12)
    np.testing.assert_allclose(env.median, np.median(x, axis=0), rtol=1e-12)
    assert env.quantiles == (0.005, 0.995)


def test_held_out_spectra_mostly_in_domain_scaled_and_misshapen_flagged(turbid_model, caplog):
    held = labelled_turbid(100, seed=22).drop(columns=["time_utc", "horizon", "dataset"])
    held = held.drop(columns=["log10_microcystin"])
    with caplog.at_level(logging.WARNING, logger="spectm"):
        out = predict_spectra(turbid_model, held, what="held.csv")
    assert out["ood_flag"].mean() < 0.05
    cols = rrs_columns(NATIVE)
    times_pi = held.assign(**{c: np.pi * held[c] for c in cols})
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="spectm"):
        flagged = predict_spectra(turbid_model, times_pi, what="pi.csv")
    assert flagged["ood_flag"].all()
    assert np.isfinite(flagged["microcystin_ugL"]).all()  # still predicted, only flagged
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "pi.csv" in warning and "100 of 100" in warning and "100.0%" in warning
    # gross shape errors: flat at the typical level, bands shuffled, clear blue water
    rrs = held[cols].to_numpy()
    flat = np.full(rrs.shape, rrs.mean())
    shuffled = rrs[:, np.random.default_rng(0).permutation(len(cols))]
    blue = 0.0005 + 0.008 * np.exp(-(((NATIVE - 440) / 60) ** 2))  # oligotrophic-like
    for bad in (flat, shuffled, np.tile(blue, (len(held), 1))):
        table = held.assign(**dict(zip(cols, bad.T, strict=True)))
        bad_out = predict_spectra(turbid_model, table)
        assert bad_out["ood_reason"].str.contains("outside_envelope").all()


@pytest.mark.parametrize("factor", [1e4, 100 * np.pi], ids=["times_1e4", "percent"])
def test_scaled_reflectance_is_an_error_naming_file_row_and_column(model_path, tmp_path, factor):
    src = spectra_table(NATIVE).assign(row_id=lambda d: [f"r{i}" for i in range(len(d))])
    cols = rrs_columns(NATIVE)
    src[cols] = src[cols] * factor
    src.loc[0, cols] = src.loc[0, cols] / factor  # the first row is fine
    src.to_csv(tmp_path / "scaled.csv", index=False)
    # first offending value: row r1, the first column whose magnitude exceeds 1/pi
    first = next(c for c in cols if abs(src.loc[1, c]) > 1 / np.pi)
    want = f"{src.loc[1, first]:.6g}"
    with pytest.raises(ValueError, match=rf"scaled\.csv: row_id 'r1', column {first} = {want}"):
        predict_file(model_path, tmp_path / "scaled.csv", tmp_path / "o.csv")
    assert not (tmp_path / "o.csv").exists()


def test_negated_spectrum_is_an_error(model_path, tmp_path):
    src = spectra_table(NATIVE)
    cols = rrs_columns(NATIVE)
    src.loc[2, cols] = -src.loc[2, cols]
    src.to_csv(tmp_path / "neg.csv", index=False)
    median = np.median(src.loc[2, cols].to_numpy(dtype=float)[GRID_READ])
    assert median < -0.002
    with pytest.raises(
        ValueError,
        match=rf"neg\.csv: row 2 is negative as a whole: median Rrs "
        rf"{median:.4g} sr-1",
    ):
        predict_file(model_path, tmp_path / "neg.csv", tmp_path / "o.csv")


def test_negative_bands_within_noise_pass_beyond_noise_flagged(model_path, caplog):
    src = spectra_table(NATIVE, n=5)
    src.loc[1, "Rrs_560"] = -0.001  # within noise: not flagged
    src.loc[2, "Rrs_560"] = -0.01  # beyond noise on a band the model reads: flagged
    src.loc[3, "Rrs_400"] = -0.01  # beyond noise, but at 400 nm, which the model does not read
    src.loc[4, [f"Rrs_{w}" for w in (415, 418, 420)]] = -0.0019  # several bands, within noise
    with caplog.at_level(logging.WARNING, logger="spectm"):
        out = predict_spectra(model_path, src, what="bands.csv")
    assert list(out["ood_flag"]) == [False, False, True, False, False]
    assert list(out["ood_reason"]) == ["", "", "negative_band", "", ""]
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith("bands.csv: 1 of 5 predicted spectra (20.0%)")
    assert "negative_band 1" in warning


def test_deployable_without_envelope_loads_with_physical_checks_only(model_path, tmp_path, caplog):
    blob = torch.load(model_path, map_location="cpu", weights_only=True)
    assert "envelope" in blob
    del blob["envelope"]  # a file written before the envelope existed
    old = tmp_path / "old.pt"
    torch.save(blob, old)
    assert load_deployable(old).envelope is None
    src = spectra_table(NATIVE)
    cols = rrs_columns(NATIVE)
    with caplog.at_level(logging.INFO, logger="spectm"):
        out = predict_spectra(old, src.assign(**{c: np.pi * src[c] for c in cols}))
    assert any("no training-domain envelope" in r.getMessage() for r in caplog.records)
    assert not out["ood_flag"].any()  # x pi is only caught by the envelope
    new = predict_spectra(model_path, src.assign(**{c: np.pi * src[c] for c in cols}))
    np.testing.assert_allclose(out["microcystin_ugL"], new["microcystin_ugL"])
    assert new["ood_flag"].all()
    with pytest.raises(ValueError, match="is not Rrs in sr-1"):
        predict_spectra(old, src.assign(**{c: 1e4 * src[c] for c in cols}))
    src.loc[0, "Rrs_560"] = -0.01
    assert predict_spectra(old, src)["ood_reason"][0] == "negative_band"


def test_chip_flags_scaled_pixels_and_refuses_impossible_ones(model_path, tmp_path, caplog):
    ds = chip_dataset(np.random.default_rng(13), 6)
    rrs = ds["Rrs"].values
    rrs[0, :3] = np.nan  # no estimate
    rrs[2, 4] *= np.pi  # possible but outside the training domain
    rrs[3, 5, NATIVE == 560] = -0.01  # a band beyond noise
    chip = write_netcdf(ds, tmp_path / "chip.nc")
    with caplog.at_level(logging.WARNING, logger="spectm"):
        predict_chip(model_path, chip, tmp_path / "mc.nc", tmp_path / "mc.png", chunk_pixels=7)
    with xr.open_dataset(tmp_path / "mc.nc", engine="h5netcdf") as res:
        ood = res["ood_flag"].values
        assert res.attrs["n_ood_pixels"] == 2
        assert res["ood_flag"].attrs["flag_meanings"] == "negative_band outside_envelope brightness"
    want = np.zeros((7, 9))
    want[0, :3] = np.nan
    want[3, 5] = 1  # negative_band
    assert np.isin(ood[2, 4], [2, 6])  # outside_envelope (and perhaps brightness)
    ood[2, 4] = 0
    np.testing.assert_array_equal(ood, want)
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert str(chip) in warning and "2 of 60 predicted spectra (3.3%)" in warning
    # x 10^4 in one pixel: an error naming the chip, the pixel and the wavelength
    ds["Rrs"].values[4, 6] *= 1e4
    bad = write_netcdf(ds, tmp_path / "bad.nc")
    first = NATIVE[np.argmax(np.abs(ds["Rrs"].values[4, 6]) > 1 / np.pi)]
    with pytest.raises(
        ValueError, match=rf"chip .*bad\.nc: pixel \(y=4, x=6\), Rrs at {first:g} nm"
    ):
        predict_chip(model_path, bad, tmp_path / "b.nc", tmp_path / "b.png", chunk_pixels=5)
    assert not (tmp_path / "b.nc").exists()


def test_domain_flags_by_hand():
    ramp = np.arange(201) * 1e-4  # the envelope of tests/train/test_deploy.py::ramp_spectra
    env = fit_domain_envelope(np.column_stack([ramp, np.full(201, 0.01), ramp]), GRID3)
    spectra = np.array(
        [
            [0.01, 0.01, 0.01],  # the median: in domain
            [0.01, 0.0125, 0.01],  # band 1 above hi + tol = 0.011: 1 of 3 bands > 5 %
            [0.03, 0.03, 0.03],  # brightness 3 > 1.66 * 1.5, and bands 1 outside
            [0.001, 0.001, 0.001],  # brightness 0.1 < 0.34 / 1.5, and band 1 below 0.009
            [0.01, 0.0095, -0.0025],  # band 2 negative beyond noise, above lo - tol = -0.00288
            [0.01, 0.0095, -0.0035],  # band 2 negative beyond noise and below lo - tol
            [0.01, 0.0095, -0.0015],  # band 2 negative within noise, inside the tolerance
            [0.01, 0.01, np.nan],  # missing bands are ignored
        ]
    )
    bits = domain_flags(env, spectra)
    assert bits.tolist() == [0, 2, 6, 6, 1, 3, 0, 0]
    assert domain_flags(None, spectra).tolist() == [0, 0, 0, 0, 1, 1, 0, 0]
    assert ood_reasons(bits)[:6] == [
        "",
        "outside_envelope",
        "outside_envelope;brightness",
        "outside_envelope;brightness",
        "negative_band",
        "negative_band;outside_envelope",
    ]
