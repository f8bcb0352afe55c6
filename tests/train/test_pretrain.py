"""Pretraining corpus, the training loop, checkpoint/resume, early stopping and model loading."""

import importlib
import json
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch
import xarray as xr

from spectm._io import write_netcdf, write_parquet
from spectm.io.corpus import read_corpus, write_corpus
from spectm.model.device import resolve_device
from spectm.model.pretrained import embed, load_pretrained
from spectm.spectral.bands import pace_oci_rrs_wavelengths
from spectm.spectral.grids import paper_grid
from spectm.tables import rrs_columns
from spectm.train.checkpoint import CHECKPOINT_KEYS, load_checkpoint
from spectm.train.corpus import build_corpus
from spectm.train.pretrain import PretrainConfig, pretrain
from tests.conftest import chip_dataset

NATIVE = pace_oci_rrs_wavelengths()


def synth_spectra(rng: np.random.Generator, n: int, wl: np.ndarray) -> np.ndarray:
    """Smooth turbid-water-like Rrs (sr-1): green peak, phycocyanin and chl-a dips, NIR peak."""
    w = np.asarray(wl, dtype=float)[None, :]
    amp, chl, pc = (rng.uniform(lo, hi, (n, 1)) for lo, hi in [(0.004, 0.012), (0, 1), (0, 1)])
    base = amp * np.exp(-(((w - 560) / 90) ** 2)) + 0.001
    dips = (1 - 0.25 * pc * np.exp(-(((w - 622) / 10) ** 2))) * (
        1 - 0.35 * chl * np.exp(-(((w - 672) / 9) ** 2))
    )
    return base * dips + 0.004 * chl * np.exp(-(((w - 705) / 10) ** 2))


def write_chip(path, rng, day: int, ny: int = 8, nx: int = 10, invalid_frac: float = 0.2):
    """A chip following the contract: Rrs (y, x, wavelength) sr-1, NaN invalid, 2-D lat/lon."""
    rrs = synth_spectra(rng, ny * nx, NATIVE).reshape(ny, nx, NATIVE.size).astype(np.float32)
    rrs[rng.random((ny, nx)) < invalid_frac] = np.nan  # land / cloud
    lat, lon = np.meshgrid(41.5 + 0.01 * np.arange(ny), -83.2 + 0.01 * np.arange(nx), indexing="ij")
    ds = chip_dataset(rrs, lat, lon, NATIVE, pd.Timestamp(f"2024-07-{day:02d}T18:00:00Z"))
    write_netcdf(ds, path)
    return path, rrs, lat, lon, ds.attrs["granule"]


@pytest.fixture(scope="module")
def chips(tmp_path_factory):
    root = tmp_path_factory.mktemp("chips")
    rng = np.random.default_rng(42)
    return [write_chip(root / f"chip_{d:02d}.nc", rng, d) for d in range(1, 7)]


@pytest.fixture(scope="module")
def corpus_path(chips, tmp_path_factory):
    df = build_corpus([c[0] for c in chips], grid="paper", max_pixels=300, val_fraction=0.2, seed=0)
    return write_corpus(df, tmp_path_factory.mktemp("corpus") / "corpus.parquet")


def micro(**kw) -> PretrainConfig:
    base = dict(
        preset="tiny",
        model={"n_layers": 1, "d_model": 16, "n_heads": 2},
        batch_size=32,
        max_epochs=2,
        checkpoint_every=3,
        device="cpu",
        num_threads=1,
        progress=False,
        lr=1e-3,
    )
    return PretrainConfig(**{**base, **kw})


# ---------------------------------------------------------------- corpus


def test_corpus_schema_validity_and_split_by_date(chips, corpus_path):
    df = read_corpus(corpus_path)
    cols = rrs_columns(paper_grid())
    assert list(df.columns[:6]) == ["granule", "time_utc", "lat", "lon", "split", "source"]
    assert cols == [c for c in df.columns if c.startswith("Rrs_")]
    assert len(df) == 300 and np.isfinite(df[cols].to_numpy()).all()
    assert df.filter(like="future_Rrs_").isna().all().all()  # no pairs given
    assert (
        isinstance(df["time_utc"].dtype, pd.DatetimeTZDtype) and str(df["time_utc"].dt.tz) == "UTC"
    )
    per_granule = df.groupby("granule")["split"].nunique()
    assert (per_granule == 1).all() and set(df["split"]) == {"train", "val"}
    assert df.attrs["gap_filled_nm"] == [
        590.0,
        592.5,
        595.0,
        597.5,
        600.0,
        602.5,
        605.0,
        607.5,
        610.0,
        612.5,
    ]
    assert df.attrs["n_valid_chip_pixels"] == sum(
        int(np.isfinite(c[1][..., 0]).sum()) for c in chips
    )
    # every row is a real chip pixel, linearly resampled to the grid
    _, rrs, lat, lon, granule = chips[0]
    row = df[df["granule"] == granule].iloc[0]
    iy, ix = np.argwhere(np.isclose(lat, row["lat"]) & np.isclose(lon, row["lon"]))[0]
    expected = np.interp(paper_grid(), NATIVE, rrs[iy, ix].astype(float))
    np.testing.assert_allclose(row[cols].to_numpy(dtype=float), expected, rtol=1e-6)


def test_corpus_is_seeded_and_drops_pixels_with_nan_inside_the_grid_range(tmp_path):
    rng = np.random.default_rng(0)
    path, *_ = write_chip(tmp_path / "a.nc", rng, 1, invalid_frac=0.0)
    write_chip(tmp_path / "b.nc", rng, 2, invalid_frac=0.0)
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        ds = ds.load()
    ds["Rrs"][0, 0, int(np.argmin(abs(NATIVE - 641)))] = np.nan  # inside 415-717.5: invalid
    ds["Rrs"][0, 1, 0] = np.nan  # 346 nm, outside the paper grid's span: still valid
    write_netcdf(ds, path)
    df = build_corpus([path, tmp_path / "b.nc"], max_pixels=10_000, val_fraction=0.5, seed=3)
    assert df.attrs["n_valid_chip_pixels"] == 2 * 80 - 1
    a = build_corpus([tmp_path / "b.nc", path], max_pixels=50, seed=3)
    b = build_corpus([path, tmp_path / "b.nc"], max_pixels=50, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 50


def test_corpus_pixel_pairs_fill_future_columns(chips, tmp_path):
    _, rrs, lat, lon, granule = chips[0]
    iy, ix = np.argwhere(np.isfinite(rrs[..., 0]))[0]
    rng = np.random.default_rng(5)
    future = synth_spectra(rng, 2, NATIVE)
    pairs = pd.DataFrame(
        {
            "granule_t": [granule, "PACE_OCI.20240801T180000.L2.OC_AOP.V3_0.nc"],
            "granule_t8": ["g8a", "g8b"],
            "lat": [lat[iy, ix], 41.9],
            "lon": [lon[iy, ix], -83.0],
            "lead_hours": [192.0, 190.0],
        }
    )
    cur = np.vstack([rrs[iy, ix], synth_spectra(rng, 1, NATIVE)[0]])
    pairs = pd.concat(
        [
            pairs,
            pd.DataFrame(cur, columns=rrs_columns(NATIVE)),
            pd.DataFrame(future, columns=rrs_columns(NATIVE, prefix="future_Rrs_")),
        ],
        axis=1,
    )
    pp = write_parquet(pairs, tmp_path / "pairs.parquet")
    paths = [c[0] for c in chips]
    without = build_corpus(paths, max_pixels=10_000, seed=0)
    df = build_corpus(paths, pixel_pairs_path=pp, max_pixels=10_000, seed=0)
    assert len(df) == len(without) + 1  # the pair at a chip pixel replaces that pixel
    got = df[df["source"] == "pair"]
    assert len(got) == 2 and df.attrs["n_pair_rows"] == 2
    fut = got.filter(like="future_Rrs_").to_numpy(dtype=float)
    np.testing.assert_allclose(fut[0], np.interp(paper_grid(), NATIVE, future[0]), rtol=1e-6)
    assert got["time_utc"].iloc[1] == pd.Timestamp("2024-08-01T18:00:00Z")
    assert df.loc[df["source"] == "chip"].filter(like="future_").isna().all().all()


def test_corpus_errors_name_the_file(tmp_path):
    ds = xr.Dataset({"Rrs": (("y", "x", "band"), np.zeros((2, 2, 3), dtype=np.float32))})
    write_netcdf(ds, tmp_path / "bad.nc")
    with pytest.raises(ValueError, match=r"bad\.nc: chip attribute .granule. is missing"):
        build_corpus([tmp_path / "bad.nc"])
    rng = np.random.default_rng(0)
    path, *_ = write_chip(tmp_path / "one.nc", rng, 1)
    with pytest.raises(ValueError, match="at least 2 overpass dates"):
        build_corpus([path], val_fraction=0.1)


# ---------------------------------------------------------------- training


def test_pretrain_outputs_checkpoint_and_embed(corpus_path, tmp_path):
    model_path = pretrain(corpus_path, tmp_path, micro(max_epochs=1))
    for name in ("model.pt", "checkpoint.pt", "config.json", "losses.csv"):
        assert (tmp_path / name).exists()
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    assert set(CHECKPOINT_KEYS) <= set(state) and state["finished"]
    losses = pd.read_csv(tmp_path / "losses.csv")
    assert list(losses.columns) == ["step", "epoch", "split", "rec", "idx", "temp", "total"]
    assert (losses["split"] == "val").sum() == 1 and losses["temp"].eq(0).all()
    model, meta = load_pretrained(model_path)
    assert meta.index_names == ["NDCI", "CI_cyano", "SS665", "PC_709_620", "PC_650_625", "CI_Hu"]
    assert (
        json.loads((tmp_path / "config.json").read_text())["final_step"] == meta.summary.final_step
    )
    df = read_corpus(corpus_path)
    spectra = df.filter(like="Rrs_").iloc[:5, :122].to_numpy(copy=True)
    e = embed(model, meta, spectra)
    assert e.shape == (5, 16) and e.dtype == np.float32
    spectra[0, 3] = np.nan  # a missing band is masked, not an error
    assert np.isfinite(embed(model, meta, spectra, hide_windows=True)).all()
    with pytest.raises(ValueError, match="model expects"):
        embed(model, meta, spectra[:, :100])


def test_bf16_autocast_path_trains_and_saves_float32_weights(corpus_path, tmp_path, monkeypatch):
    """The CUDA path autocasts to bfloat16; run that same path on the CPU (no GPU in CI)."""
    pretrain_module = importlib.import_module("spectm.train.pretrain")  # not the function

    used = []

    def bf16(device):
        used.append(device.type)
        return torch.autocast(device_type="cpu", dtype=torch.bfloat16)

    monkeypatch.setattr(pretrain_module, "autocast", bf16)
    model_path = pretrain(corpus_path, tmp_path, micro(max_epochs=1, mask_strategy="targeted"))
    assert used  # the training and validation steps went through the bf16 context
    losses = pd.read_csv(tmp_path / "losses.csv")
    assert np.isfinite(losses[["rec", "idx", "total"]].to_numpy()).all()
    model, _ = load_pretrained(model_path)
    assert all(p.dtype == torch.float32 for p in model.parameters())


def test_early_stopping_triggers(corpus_path, tmp_path):
    # an improvement must exceed min_delta: after the first epoch none does
    pretrain(corpus_path, tmp_path, micro(max_epochs=20, patience=2, min_delta=1e9))
    _, meta = load_pretrained(tmp_path / "model.pt")
    assert meta.summary.stopped_early and meta.summary.epochs_run == 3
    losses = pd.read_csv(tmp_path / "losses.csv")
    assert (losses["split"] == "val").sum() == 3


def test_device_override_cpu_and_unavailable_device():
    assert resolve_device("cpu") == torch.device("cpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")
    with pytest.raises(ValueError, match="not a torch device"):
        resolve_device("tpu9")


def test_config_roundtrip_validation_and_max_steps(corpus_path, tmp_path):
    cfg = micro(max_steps=2, max_epochs=5, mask_windows_nm=[[660, 680]])
    assert PretrainConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(ValueError, match="unknown pretrain config keys"):
        PretrainConfig.from_dict({"learning_rate": 1e-3})
    with pytest.raises(ValueError, match="mask_strategy"):
        micro(mask_strategy="blocks")
    pretrain(corpus_path, tmp_path, cfg)
    _, meta = load_pretrained(tmp_path / "model.pt")
    assert meta.summary.final_step == 2 and meta.mask_windows_nm == [[660.0, 680.0]]
    assert (pd.read_csv(tmp_path / "losses.csv")["split"] == "val").sum() == 1


def test_resume_refuses_a_different_config(corpus_path, tmp_path):
    pretrain(corpus_path, tmp_path, micro(max_epochs=1))
    with pytest.raises(ValueError, match=r"config keys \['lr'\] differ"):
        pretrain(corpus_path, tmp_path, micro(max_epochs=1, lr=5e-4))


_RUN = """
import json, sys
from spectm.train.pretrain import PretrainConfig, pretrain
pretrain(sys.argv[1], sys.argv[2], PretrainConfig.from_dict(json.loads(sys.argv[3])))
"""


def test_kill_and_resume_matches_uninterrupted_run(corpus_path, tmp_path):
    cfg = PretrainConfig(
        preset="tiny",
        # dropout draws from the torch RNG: its state must be restored on resume
        model={"n_layers": 1, "d_model": 16, "n_heads": 2, "dropout": 0.1},
        mask_strategy="random",
        batch_size=16,
        max_epochs=2,
        checkpoint_every=3,
        device="cpu",
        num_threads=1,
        progress=False,
    )
    killed = tmp_path / "killed"
    args = [sys.executable, "-c", _RUN, str(corpus_path), str(killed), json.dumps(cfg.to_dict())]
    proc = subprocess.Popen(args)
    deadline = time.monotonic() + 120
    while not (killed / "checkpoint.pt").exists():
        assert proc.poll() is None, "pretraining exited before its first checkpoint"
        assert time.monotonic() < deadline
        time.sleep(0.002)
    proc.kill()
    proc.wait()
    assert not (killed / "model.pt").exists(), "run finished before it could be killed"
    step_at_kill = load_checkpoint(killed / "checkpoint.pt")["step"]
    assert step_at_kill > 0

    pretrain(corpus_path, killed, cfg)  # resume
    straight = tmp_path / "straight"
    pretrain(corpus_path, straight, cfg)

    a, meta_a = load_pretrained(killed / "model.pt")
    b, meta_b = load_pretrained(straight / "model.pt")
    assert meta_a.summary.resumed_from == [step_at_kill] and meta_b.summary.resumed_from == []
    assert step_at_kill < meta_a.summary.final_step == meta_b.summary.final_step
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(va, vb), k
    pd.testing.assert_frame_equal(
        pd.read_csv(killed / "losses.csv"), pd.read_csv(straight / "losses.csv")
    )
