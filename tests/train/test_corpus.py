"""The pretraining corpus: build_corpus (chips -> rows on the model grid) and read_corpus.

Fixtures (``chips``, ``corpus_path``, ``write_chip``, ``synth_spectra``) are in conftest.py.
"""

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from spectm._io import write_netcdf, write_parquet
from spectm.io.corpus import read_corpus, write_corpus
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


def _labelled_table(rng, spectra: np.ndarray, times: list[str], wl: np.ndarray) -> pd.DataFrame:
    """A labelled dataset (spectm.datasets contract) of the given spectra at the given times."""
    n = len(spectra)
    mc = rng.uniform(0.2, 5.0, n)
    base = pd.DataFrame(
        {
            "row_id": [f"t:{k}" for k in range(n)],
            "station": [f"WE{k}" for k in range(n)],
            "time_utc": pd.to_datetime(times, utc=True).as_unit("ns"),
            "label_time_utc": pd.to_datetime(times, utc=True).as_unit("ns"),
            "dt_hours": 0.0,
            "horizon": "current_week",
            "microcystin_ugL": mc,
            "log10_microcystin": np.log10(mc),
            "censored": False,
            "lat": 41.7 + 0.01 * np.arange(n),
            "lon": np.full(n, -83.3),
            "dataset": "test",
            "granule": [f"G{k}" for k in range(n)],
        }
    )
    return pd.concat([base, pd.DataFrame(spectra, columns=rrs_columns(wl))], axis=1)


def test_corpus_labelled_spectra_add_exactly_their_rows_without_labels(
    chips, tmp_path, synth_spectra
):
    paths = [c[0] for c in chips]
    without = build_corpus(paths, max_pixels=300, seed=0, grid="paper", val_fraction=0.2)
    val_day = without.loc[without["split"] == "val", "time_utc"].dt.strftime("%Y-%m-%d").iloc[0]
    train_day = without.loc[without["split"] == "train", "time_utc"].dt.strftime("%Y-%m-%d")
    assert without["time_utc"].dt.strftime("%Y-%m-%d").nunique() == 6
    rng = np.random.default_rng(11)
    spectra = synth_spectra(rng, 5, NATIVE)
    spectra[4, int(np.argmin(abs(NATIVE - 650)))] = np.nan  # inside the grid span: dropped
    times = [
        f"{val_day}T16:00:00Z",  # on a val date of the chips
        f"{train_day.iloc[0]}T16:00:00Z",  # on a train date of the chips
        "2025-06-10T17:00:00Z",  # a date without chips
        "2025-06-11T17:00:00Z",
        "2025-06-12T17:00:00Z",
    ]
    table = _labelled_table(rng, spectra, times, NATIVE)
    path = tmp_path / "labelled.parquet"
    write_parquet(table, path)
    # the same spectra again (as in the 8-day-ahead table): repeats, not new rows
    again = table.iloc[[0, 2]].assign(horizon="8day_ahead", row_id=["a:0", "a:2"])
    df = build_corpus(
        paths,
        labelled_tables=[path, again],
        max_pixels=300,
        seed=0,
        grid="paper",
        val_fraction=0.2,
    )
    got = df[df["source"] == "labelled"]
    assert len(df) == len(without) + 4 and len(got) == 4
    assert df.attrs["n_labelled_rows"] == 4 and df.attrs["n_labelled_read"] == 7
    assert df.attrs["n_labelled_invalid"] == 1 and df.attrs["n_labelled_repeats"] == 2
    assert list(df.columns) == list(without.columns)  # no label column came along
    assert not {"microcystin_ugL", "log10_microcystin", "censored", "row_id"} & set(df.columns)
    # chip rows and their split are untouched; labelled rows follow their date or go to train
    pd.testing.assert_frame_equal(df.iloc[: len(without)], without, check_like=False)
    assert list(got["split"]) == ["val", "train", "train", "train"]
    assert list(got["granule"]) == ["G0", "G1", "G2", "G3"]
    assert got["time_utc"].iloc[2] == pd.Timestamp("2025-06-10T17:00:00Z")
    # resampled as chip pixels are: 622.5 nm lies between the sensor's 620 and 623 nm bands
    i620, i623 = (int(np.flatnonzero(NATIVE == w)[0]) for w in (620.0, 623.0))
    by_hand = spectra[:4, i620] + (622.5 - 620.0) / 3.0 * (spectra[:4, i623] - spectra[:4, i620])
    np.testing.assert_allclose(got["Rrs_622.5"].to_numpy(dtype=float), by_hand, rtol=1e-6)
    np.testing.assert_allclose(
        got[rrs_columns(paper_grid())].to_numpy(dtype=float)[3],
        np.interp(paper_grid(), NATIVE, spectra[3]),
        rtol=1e-6,
    )
    assert got.filter(like="future_Rrs_").isna().all().all()
    # the written corpus reads back
    back = read_corpus(write_corpus(df, tmp_path / "corpus.parquet"))
    assert (back["source"] == "labelled").sum() == 4


def test_corpus_labelled_tables_are_checked_and_named(chips, tmp_path, synth_spectra):
    paths = [c[0] for c in chips]
    rng = np.random.default_rng(2)
    table = _labelled_table(
        rng, synth_spectra(rng, 2, NATIVE), ["2024-07-01", "2024-07-02"], NATIVE
    )
    kw = {"max_pixels": 100, "seed": 0, "grid": "paper", "val_fraction": 0.2}
    with pytest.raises(ValueError, match=r"labelled table #0: labelled dataset lacks column 'lat'"):
        build_corpus(paths, labelled_tables=[table.drop(columns="lat")], **kw)
    bad = write_parquet(
        table.assign(time_utc=table["time_utc"].dt.tz_localize(None)), tmp_path / "b.parquet"
    )
    with pytest.raises(ValueError, match=r"b\.parquet: labelled dataset column 'time_utc'"):
        build_corpus(paths, labelled_tables=[bad], **kw)
    narrow = table.drop(columns=[c for c in table.columns if c.startswith("Rrs_7")])
    with pytest.raises(ValueError, match=r"labelled table #0 \(Rrs_<nm>\).*do not cover"):
        build_corpus(paths, labelled_tables=[narrow], **kw)
    one = build_corpus(paths, labelled_tables=table, **kw)  # a single table needs no list
    assert (one["source"] == "labelled").sum() == 2 and one.attrs["n_labelled_rows"] == 2


def test_read_corpus_rejects_an_unknown_source(corpus_path, tmp_path):
    df = read_corpus(corpus_path)
    df.loc[df.index[0], "source"] = "scraped"
    path = write_corpus(df, tmp_path / "c.parquet")
    with pytest.raises(ValueError, match=r"column 'source' has values \['scraped'\]; expected one"):
        read_corpus(path)
