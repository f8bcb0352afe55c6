"""The pretraining corpus: build_corpus (chips -> rows on the model grid) and read_corpus.

Fixtures (``chips``, ``corpus_path``, ``write_chip``, ``synth_spectra``) are in conftest.py.
"""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from spectm._io import write_netcdf, write_parquet
from spectm.io.corpus import read_corpus
from spectm.spectral.bands import pace_oci_rrs_wavelengths
from spectm.spectral.grids import paper_grid
from spectm.tables import rrs_columns
from spectm.train.corpus import build_corpus

NATIVE = pace_oci_rrs_wavelengths()


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


def test_corpus_is_seeded_and_drops_pixels_with_nan_inside_the_grid_range(tmp_path, write_chip):
    rng = np.random.default_rng(0)
    path, *_ = write_chip(tmp_path / "a.nc", rng, 1, invalid_frac=0.0)
    write_chip(tmp_path / "b.nc", rng, 2, invalid_frac=0.0)
    with xr.open_dataset(path, engine="h5netcdf") as ds:
        ds = ds.load()
    ds["Rrs"][0, 0, int(np.argmin(abs(NATIVE - 641)))] = np.nan  # inside 415-717.5: invalid
    ds["Rrs"][0, 1, 0] = np.nan  # 346 nm, outside the paper grid's span: still valid
    write_netcdf(ds, path)
    df = build_corpus(
        [path, tmp_path / "b.nc"], max_pixels=10_000, val_fraction=0.5, seed=3, grid="paper"
    )
    assert df.attrs["n_valid_chip_pixels"] == 2 * 80 - 1
    a = build_corpus(
        [tmp_path / "b.nc", path], max_pixels=50, seed=3, grid="paper", val_fraction=0.1
    )
    b = build_corpus(
        [path, tmp_path / "b.nc"], max_pixels=50, seed=3, grid="paper", val_fraction=0.1
    )
    pd.testing.assert_frame_equal(a, b)
    assert len(a) == 50


def test_corpus_pixel_pairs_fill_future_columns(chips, tmp_path, synth_spectra):
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
    without = build_corpus(paths, max_pixels=10_000, seed=0, grid="paper", val_fraction=0.1)
    df = build_corpus(
        paths, pixel_pairs_path=pp, max_pixels=10_000, seed=0, grid="paper", val_fraction=0.1
    )
    assert len(df) == len(without) + 1  # the pair at a chip pixel replaces that pixel
    got = df[df["source"] == "pair"]
    assert len(got) == 2 and df.attrs["n_pair_rows"] == 2
    fut = got.filter(like="future_Rrs_").to_numpy(dtype=float)
    np.testing.assert_allclose(fut[0], np.interp(paper_grid(), NATIVE, future[0]), rtol=1e-6)
    assert got["time_utc"].iloc[1] == pd.Timestamp("2024-08-01T18:00:00Z")
    assert df.loc[df["source"] == "chip"].filter(like="future_").isna().all().all()


def test_corpus_errors_name_the_file(tmp_path, write_chip):
    ds = xr.Dataset({"Rrs": (("y", "x", "band"), np.zeros((2, 2, 3), dtype=np.float32))})
    write_netcdf(ds, tmp_path / "bad.nc")
    with pytest.raises(ValueError, match=r"bad\.nc: chip attribute .granule. is missing"):
        build_corpus(
            [tmp_path / "bad.nc"], grid="paper", max_pixels=200_000, val_fraction=0.1, seed=0
        )
    rng = np.random.default_rng(0)
    path, *_ = write_chip(tmp_path / "one.nc", rng, 1)
    with pytest.raises(ValueError, match="at least 2 overpass dates"):
        build_corpus([path], val_fraction=0.1, grid="paper", max_pixels=200_000, seed=0)
