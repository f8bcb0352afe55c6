"""Every ``spectm`` subcommand through ``spectm.cli.main``: defaults come from the config."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from spectm.cli import build_parser, main
from spectm.config import DEFAULT_CONFIG_PATH, read_config
from spectm.data_files import data_path
from spectm.io.chips import read_chip_file
from spectm.io.corpus import write_corpus
from spectm.model.pretrained import load_pretrained
from spectm.spectral.bands import pace_oci_rrs_wavelengths
from spectm.tables import rrs_columns
from spectm.train.corpus import build_corpus
from spectm.train.deploy import train_deployable
from spectm.train.finetune import FullConfig
from tests.conftest import chip_dataset, evaluation, grid_lat_lon, turbid_spectra

NATIVE = pace_oci_rrs_wavelengths()
G_JUNE = "PACE_OCI.20240616T172214.L2.OC_AOP.V3_0.nc"

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def small_config(tmp_path: Path, **sections: dict) -> Path:
    """The default config with some keys replaced, written to a file."""
    cfg = yaml.safe_load(DEFAULT_CONFIG_PATH.read_text())
    for name, values in sections.items():
        cfg[name].update(values)
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def test_help_names_the_config_default(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["pace-search", "--help"])
    assert exit_.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "(default: pace.start in the config)" in out
    assert "--config" in " ".join(build_parser().format_help().split())


def test_pace_search_takes_its_period_from_the_config(tmp_path):
    out = tmp_path / "m.csv"
    assert main(["pace-search", "--out", str(out)]) == 0
    manifest = pd.read_csv(out)
    cfg = read_config()
    start = pd.Timestamp(cfg.pace.start, tz="UTC")
    end = pd.Timestamp(cfg.pace.end, tz="UTC") + pd.Timedelta(days=1)
    times = pd.to_datetime(manifest["time_start"], utc=True)
    assert len(manifest) > 0 and times.between(start, end).all()
    # a config file moves the default; an option overrides that one setting
    conf = small_config(tmp_path, pace={"start": "2024-08-01", "end": "2024-08-31"})
    assert main(["--config", str(conf), "pace-search", "--out", str(out)]) == 0
    august = pd.to_datetime(pd.read_csv(out)["time_start"], utc=True)
    assert (august.dt.month == 8).all() and len(august) < len(manifest)
    assert (
        main(["--config", str(conf), "pace-search", "--out", str(out), "--max-granules", "2"]) == 0
    )
    assert len(pd.read_csv(out)) == 2


def test_pace_granule_chip_and_quicklook(tmp_path):
    manifest = tmp_path / "m.csv"
    conf = small_config(
        tmp_path,
        pace={
            "start": "2024-06-16",
            "end": "2024-06-16",
            "demo": {
                "max_granules": None,
                "shape": [48, 44],
                "pixel_km": 3.0,
                "cloud_fraction": 0.15,
                "seed": 1,
            },
        },
    )
    c = ["--config", str(conf)]
    assert main([*c, "pace-search", "--out", str(manifest)]) == 0
    assert G_JUNE in set(pd.read_csv(manifest)["granule"])
    granule = tmp_path / G_JUNE
    args = ["pace-granule", "--manifest", str(manifest), "--granule", G_JUNE]
    assert main([*c, *args, "--out", str(tmp_path)]) == 0
    assert granule.is_file()
    chip, stats = tmp_path / "chip.nc", tmp_path / "flags.json"
    assert main([*c, "chip", str(granule), "--out", str(chip), "--stats", str(stats)]) == 0
    ds = read_chip_file(chip)
    assert ds.attrs["flags_applied"].split() == list(read_config().pace.exclude_flags)
    assert json.loads(stats.read_text())["n_pixels_aoi"] > 0
    png = tmp_path / "q.png"
    assert main(["quicklook", str(chip), "--out", str(png)]) == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # a granule that is not in the manifest is an error with its name, not a traceback
    bad = "PACE_OCI.20200101T000000.L2.OC_AOP.V3_0.nc"
    assert main([*c, "pace-granule", "--manifest", str(manifest), "--granule", bad,
                 "--out", str(tmp_path)]) == 1  # fmt: skip


def test_samples_uses_the_configured_position_threshold(tmp_path, capsys):
    src = data_path("glerl", "noaa-glerl-erie-habs-field-sampling-results-2020-2021.csv")
    out = tmp_path / "s.parquet"
    assert main(["samples", str(src), "--out", str(out)]) == 0
    default = pd.read_parquet(out)
    assert main(["samples", str(src), "--out", str(out), "--position-max-km", "0.001"]) == 0
    strict = pd.read_parquet(out)
    assert len(strict) == len(default) > 0
    assert strict["position_flag"].sum() > default["position_flag"].sum()
    capsys.readouterr()
    assert main(["samples", str(tmp_path / "nope.csv"), "--out", str(out)]) == 1
    assert "nope.csv" in capsys.readouterr().err


def test_resample_and_indices(tmp_path, capsys):
    spectra = pd.DataFrame(
        turbid_spectra(np.random.default_rng(0).uniform(0, 1, (4, 3)), NATIVE),
        columns=rrs_columns(NATIVE),
    )
    src = tmp_path / "in.csv"
    spectra.to_csv(src, index=False)
    out = tmp_path / "s2.csv"
    assert main(["resample", "--in", str(src), "--out", str(out), "--sensor", "pace_oci"]) == 0
    s2 = pd.read_csv(out)
    assert len(s2) == 4 and s2["B04"].notna().all() and s2["B08"].isna().all()
    assert "B04" in capsys.readouterr().out
    idx, bands = tmp_path / "idx.csv", tmp_path / "bands.csv"
    assert main(["indices", "--in", str(src), "--out", str(idx), "--bands", str(bands)]) == 0
    assert "NDCI" in pd.read_csv(idx).columns and len(pd.read_csv(bands)) > 0


def test_validate_config_names_the_key(tmp_path, capsys):
    assert main(["validate-config", str(DEFAULT_CONFIG_PATH)]) == 0
    assert "valid" in capsys.readouterr().out
    bad = small_config(tmp_path, matchup={"radius_kms": 2.0})
    assert main(["validate-config", str(bad)]) == 1
    assert "unknown config key 'matchup.radius_kms'" in capsys.readouterr().err
    # a bad --config is refused before any work
    assert main(["--config", str(bad), "pace-search", "--out", str(tmp_path / "m.csv")]) == 1
    assert not (tmp_path / "m.csv").exists()


def test_pretrain_then_predict(tmp_path):
    rng = np.random.default_rng(4)
    chips = []
    for day in range(1, 4):
        lat, lon = grid_lat_lon(6, 8)
        rrs = turbid_spectra(rng.uniform(0, 1, (48, 3)), NATIVE).reshape(6, 8, -1)
        start = pd.Timestamp(f"2024-07-{day:02d}T18:00:00Z")
        ds = chip_dataset(rrs, lat, lon, NATIVE, start)
        chips.append(tmp_path / f"c{day}.nc")
        ds.to_netcdf(chips[-1], engine="h5netcdf")
    corpus = write_corpus(
        build_corpus(chips, grid="paper", max_pixels=500, val_fraction=0.34, seed=0),
        tmp_path / "corpus.parquet",
    )
    out_dir = tmp_path / "pre"
    args = ["pretrain", str(corpus), "--out-dir", str(out_dir), "--max-epochs", "1"]
    assert main([*args, "--batch-size", "32", "--device", "cpu", "--strategy", "random"]) == 0
    _, meta = load_pretrained(out_dir / "model.pt")
    cfg = read_config()
    assert meta.mask_strategy == "random" and meta.pretrain_config["batch_size"] == 32
    assert meta.pretrain_config["lr"] == cfg.pretrain.lr  # not given: from the config
    assert meta.model_config["d_model"] > 0 and meta.summary.epochs_run == 1

    n = 30
    latent = rng.uniform(0, 1, (n, 3))
    table = pd.DataFrame(
        {
            "row_id": [f"r{i}" for i in range(n)],
            "dataset": "synthetic",
            "horizon": "current_week",
            "time_utc": pd.Timestamp("2024-07-01T17:00Z") + pd.to_timedelta(np.arange(n), "D"),
            "log10_microcystin": latent[:, 0],
        }
    )
    rrs = pd.DataFrame(turbid_spectra(latent, NATIVE), columns=rrs_columns(NATIVE))
    table = pd.concat([table, rrs], axis=1)
    ev = evaluation(seeds=(0,))
    model = train_deployable(
        table,
        out_dir / "model.pt",
        tmp_path / "dep" / "model.pt",
        evaluation=ev,
        mode="frozen",
        full=FullConfig.for_evaluation(ev, epochs=1),
        device="cpu",
    )
    spectra = tmp_path / "spectra.csv"
    table.drop(columns=["log10_microcystin"]).head(5).to_csv(spectra, index=False)
    out = tmp_path / "pred.csv"
    io = ["--spectra", str(spectra), "--out", str(out)]
    assert main(["predict", "--checkpoint", str(model), *io]) == 0
    pred = pd.read_csv(out)
    assert len(pred) == 5 and np.isfinite(pred["microcystin_ugL"]).all()
    assert (pred["microcystin_lo_ugL"] <= pred["microcystin_hi_ugL"]).all()
    # a pretrained model is not a deployable one: a clear error, exit status 1
    assert main(["predict", "--checkpoint", str(out_dir / "model.pt"), *io]) == 1


def test_enmap_chip_cuts_a_demo_product(tmp_path, capsys):
    from spectm.io.chips import read_enmap_chip
    from spectm.sources.enmap.demo import demo_product_name, write_demo_product

    name = demo_product_name(pd.Timestamp("2024-07-02T16:30:00Z"), 1)
    product = write_demo_product(
        name, tmp_path / "p", shape=(64, 64), seed=1, cloud_fraction=0.0,
        centre_lonlat=(-83.9, 41.3), time_start="2024-07-02T16:30:00Z",
    )  # fmt: skip
    out = tmp_path / "chips"
    assert main(["enmap-chip", str(product), "--out-dir", str(out), "--size", "32"]) == 0
    chips = sorted(out.glob("*.nc"))
    assert len(chips) == 4 and "wrote 4 chips" in capsys.readouterr().out
    ds = read_enmap_chip(chips[0])
    assert ds["reflectance"].shape == (32, 32, len(read_config().enmap.bands))  # config bands
    assert main(["enmap-chip", str(tmp_path / "nothing"), "--out-dir", str(out)]) == 1


def test_resample_options_reach_the_output_file(tmp_path, capsys):
    spectra = pd.DataFrame(
        turbid_spectra(np.random.default_rng(1).uniform(0, 1, (3, 3)), NATIVE),
        columns=rrs_columns(NATIVE),
    )
    spectra.insert(0, "station", ["WE2", "WE4", "WE8"])
    src = tmp_path / "in.csv"
    spectra.to_csv(src, index=False)
    base = ["resample", "--in", str(src), "--sensor", "pace_oci"]

    plain, scaled, cov = tmp_path / "plain.csv", tmp_path / "scaled.csv", tmp_path / "cov.csv"
    assert main([*base, "--out", str(plain), "--coverage", str(cov)]) == 0
    out = [*base, "--out", str(scaled), "--reflectance", "--scale", "10000"]
    assert main(out) == 0
    a, b = pd.read_csv(plain), pd.read_csv(scaled)
    assert a["station"].tolist() == ["WE2", "WE4", "WE8"]  # other columns carried
    bands = [c for c in a.columns if c.startswith("B")]
    valid = [c for c in bands if a[c].notna().all()]
    assert {"B02", "B03", "B04", "B05"} <= set(valid)
    # Rrs x pi x 10000 (reflectance for TerraMind): a linear operation on the resampled values
    np.testing.assert_allclose(b[valid], a[valid] * np.pi * 10000, rtol=1e-9)
    coverage = pd.read_csv(cov)
    assert coverage["band"].tolist() == bands
    assert coverage.set_index("band").loc[valid, "valid"].all()
    assert not coverage.set_index("band").loc["B08", "valid"]  # OCI stops at 719 nm

    # the band-centre method picks values, the SRF one integrates: both land in the file
    naive = tmp_path / "naive.csv"
    assert main([*base, "--out", str(naive), "--method", "naive"]) == 0
    n = pd.read_csv(naive)
    assert np.isfinite(n["B04"]).all() and not np.allclose(n["B04"], a["B04"], rtol=1e-6)
    with pytest.raises(SystemExit) as exit_:  # not a target sensor: argparse says so
        main([*base, "--out", str(tmp_path / "x.csv"), "--target", "S9"])
    assert exit_.value.code == 2 and not (tmp_path / "x.csv").exists()
    assert "invalid choice: 'S9'" in capsys.readouterr().err


def test_indices_values_in_the_output_file(tmp_path):
    """NDCI and PC_709_620 of the written table, computed here from the input by hand."""
    wl = [443.0, 555.0, 620.0, 625.0, 650.0, 665.0, 670.0, 681.0, 709.0, 712.0, 753.0]
    rng = np.random.default_rng(5)
    rrs = rng.uniform(0.002, 0.02, (4, len(wl)))
    df = pd.DataFrame(rrs, columns=[f"Rrs_{w:g}" for w in wl])
    df.insert(0, "station", ["WE2", "WE4", "WE8", "WE12"])
    src = tmp_path / "in.csv"
    df.to_csv(src, index=False)
    out, bands = tmp_path / "idx.csv", tmp_path / "bands.csv"
    assert main(["indices", "--in", str(src), "--out", str(out), "--bands", str(bands)]) == 0
    got = pd.read_csv(out)
    assert got["station"].tolist() == ["WE2", "WE4", "WE8", "WE12"]
    r = {w: rrs[:, k] for k, w in enumerate(wl)}
    # NDCI wants 708 nm: 709 is the nearest band, within the default 3 nm
    np.testing.assert_allclose(got["NDCI"], (r[709.0] - r[665.0]) / (r[709.0] + r[665.0]))
    np.testing.assert_allclose(got["PC_709_620"], r[709.0] / r[620.0])
    used = pd.read_csv(bands).set_index(["index", "wanted_nm"])
    assert used.loc[("NDCI", 708.0), "nearest_nm"] == 709.0 and used.loc[("NDCI", 708.0), "used"]
    # a tolerance below the 1 nm offset: NDCI cannot be computed, the ratio still can
    assert (
        main(["indices", "--in", str(src), "--out", str(out), "--bands", str(bands),
              "--tolerance-nm", "0.5"]) == 0
    )  # fmt: skip
    strict = pd.read_csv(out)
    assert strict["NDCI"].isna().all()
    np.testing.assert_allclose(strict["PC_709_620"], r[709.0] / r[620.0])


def test_pace_search_earthdata_uses_the_config_and_one_product_per_overpass(tmp_path, monkeypatch):
    """The earthdata source through the CLI: its search gets the configured collection, period
    and area; a refined granule supersedes the NRT one of its overpass in the written manifest.
    The search itself (CMR over HTTP) is tested in tests/sources/test_pace_earthdata.py."""
    from spectm.sources.pace import SUPERSEDES, earthdata

    refined = "PACE_OCI.20240616T172214.L2.OC_AOP.V3_1.nc"
    nrt = refined.replace(".nc", ".NRT.nc")
    other = "PACE_OCI.20240617T165700.L2.OC_AOP.V3_1.NRT.nc"
    calls = []

    def search(**kw):
        calls.append(kw)
        rows = [(nrt, "2024-06-16T17:22:14Z"), (refined, "2024-06-16T17:22:14Z"),
                (other, "2024-06-17T16:57:00Z")]  # fmt: skip
        return pd.DataFrame(
            {
                "granule": [g for g, _ in rows],
                "url": [f"https://example.invalid/{g}" for g, _ in rows],
                "size_bytes": pd.array([10, 11, 12], dtype="Int64"),
                "time_start": [t for _, t in rows],
                "time_end": [t for _, t in rows],
                "short_name": kw["short_name"],
                "version": kw["version"],
                "provider": kw["provider"],
            }
        )

    monkeypatch.setattr(earthdata, "login", lambda: None)
    monkeypatch.setattr(earthdata, "search_granules", search)
    out = tmp_path / "m.csv"
    conf = small_config(tmp_path, pace={"start": "2024-06-16", "end": "2024-06-17"})
    assert (
        main(["--config", str(conf), "pace-search", "--source", "earthdata", "--out", str(out)])
        == 0
    )
    cfg = read_config(conf)
    assert calls == [
        {
            "short_name": cfg.pace.short_name,
            "version": cfg.pace.version,
            "provider": cfg.pace.provider,
            "start": "2024-06-16",
            "end": "2024-06-17",
            "bbox": tuple(float(v) for v in cfg.aoi_bbox),
        }
    ]
    m = earthdata.read_manifest(out)
    assert m["granule"].tolist() == [refined, other]
    assert m[SUPERSEDES].fillna("").tolist() == [nrt, ""]
