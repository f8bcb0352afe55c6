"""Labelled datasets: builders from matchups, the shipped table and 8-day pairs; the contract."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr

from spectm.data_files import data_path
from spectm.datasets import (
    ASSUMED_ZERO,
    DATASET_COLUMNS,
    SHIPPED_TABLE,
    eight_day_dataset,
    from_matchups,
    from_shipped_table,
    read_dataset,
    validate_dataset,
    write_dataset,
)
from spectm.matchup import match_samples
from tests.conftest import MATCHUP

WL = np.array([412.0, 443.0, 490.0, 555.0, 620.0, 665.0])
T0 = pd.Timestamp("2024-08-05T17:55:00Z")
DAY = pd.Timedelta(days=1)
LAT0, LON0 = 41.83, -83.36
LABEL = "particulate_microcystin_ugL"


LEAD = {"lead_days": 8.0, "tolerance_days": 2.0, "depth_categories": ("Surface",)}
"""8-day-ahead label settings of these tests (the shipped config's values)."""


def write_chip(path: Path, start: pd.Timestamp) -> Path:
    j, i = np.meshgrid(np.arange(5) - 2, np.arange(5) - 2)
    rng = np.random.default_rng(0)
    rrs = 0.004 * (1 + 0.01 * rng.standard_normal((5, 5, WL.size)))
    ds = xr.Dataset(
        {"Rrs": (("y", "x", "wavelength"), rrs.astype(np.float32))},
        coords={
            "wavelength": WL,
            "lat": (("y", "x"), LAT0 + 0.01 * i),
            "lon": (("y", "x"), LON0 + 0.01 * j),
        },
        attrs={
            "granule": f"PACE_OCI.{start.strftime('%Y%m%dT%H%M%S')}.L2.OC_AOP.V3_0.nc",
            "processing_version": "3.0",
            "time_coverage_start": start.isoformat(),
            "time_coverage_end": (start + pd.Timedelta(minutes=5)).isoformat(),
            "sensor": "OCI",
        },
    )
    ds.to_netcdf(path, engine="h5netcdf")
    return path


def samples_df(rows: list[dict]) -> pd.DataFrame:
    out = []
    for k, r in enumerate(rows):
        base = {
            "sample_id": f"s{k}",
            "site": "WE8",
            "time_utc": T0,
            "lat": LAT0,
            "lon": LON0,
            "depth_category": "Surface",
            "position_flag": False,
            "station_lat": LAT0,
            "station_lon": LON0,
            LABEL: 1.0,
            f"{LABEL}_censored": False,
            f"{LABEL}_dl": 0.1,
        }
        base.update(r)
        out.append(base)
    df = pd.DataFrame(out)
    df["time_utc"] = pd.to_datetime(df["time_utc"], utc=True)
    return df


def test_shipped_table_dataset():
    ds = from_shipped_table()
    raw = pd.read_csv(data_path(*SHIPPED_TABLE))
    assert len(raw) == 183 and len(ds) == 178  # 190 rows before the NRT duplicates were merged
    assumed = raw[raw["label_source"] == ASSUMED_ZERO]
    keys = set(ds["row_id"].str.split(":", n=1).str[1])
    assert not keys & set(assumed["granule"] + ":" + assumed["station"])
    assert ds.attrs["n_excluded_assumed_zero"] == 5
    assert (ds["microcystin_ugL"] > 0).all()
    assert ds["censored"].sum() == (raw["particulate_microcystin_ugL"] == 0.01).sum()
    assert ds.loc[ds["censored"], "microcystin_ugL"].eq(0.01).all()  # kept as coded
    assert sorted(ds.loc[ds["stress_test"], "station"]) == ["2024.1", "2024.2"]
    assert ds["dt_hours"].isna().all() and ds["label_time_utc"].isna().all()
    assert (ds["horizon"] == "current_week").all()
    assert len([c for c in ds.columns if c.startswith("Rrs_")]) == 172
    assert list(ds.columns[: len(DATASET_COLUMNS)]) == list(DATASET_COLUMNS)
    np.testing.assert_allclose(10 ** ds["log10_microcystin"], ds["microcystin_ugL"])
    validate_dataset(ds)


def test_from_matchups_sign_censoring_and_drops(tmp_path):
    chip = write_chip(tmp_path / "a.nc", T0)
    smp = samples_df(
        [
            {"time_utc": T0 - 20 * pd.Timedelta(hours=1), LABEL: 2.5},
            {LABEL: np.nan, f"{LABEL}_censored": True, f"{LABEL}_dl": 0.2},
            {LABEL: 0.0},
            {LABEL: np.nan, f"{LABEL}_censored": True, f"{LABEL}_dl": np.nan},
            {"depth_category": "Scum", LABEL: 30.0},
        ]
    )
    res = match_samples(smp, [chip], replace(MATCHUP, depth_categories=("Surface", "Scum")))
    assert (res.exclusions["status"] == "matched").all()
    ds = from_matchups(res.matchups, dataset="demo")
    assert ds["row_id"].tolist() == ["demo:s0", "demo:s1", "demo:s3", "demo:s4"]
    assert ds.attrs["n_dropped_nonpositive"] == 1
    assert ds.attrs["n_censored_default_dl"] == 1
    by = ds.set_index("row_id")
    np.testing.assert_allclose(
        by["dt_hours"], -res.matchups.set_index("sample_id")["dt_hours"].drop("s2").to_numpy()
    )
    assert by.loc["demo:s0", "dt_hours"] == pytest.approx(-20.0 - 2.5 / 60)
    assert by.loc["demo:s1", "microcystin_ugL"] == pytest.approx(0.1)  # DL / 2
    assert by.loc["demo:s3", "microcystin_ugL"] == pytest.approx(0.05)  # default DL / 2
    assert by["censored"].tolist() == [False, True, True, False]
    assert by["stress_test"].tolist() == [False, False, False, True]
    assert (by["time_utc"] == T0 + pd.Timedelta(minutes=2.5)).all()
    write_dataset(ds, tmp_path / "d.parquet")
    back = read_dataset(tmp_path / "d.parquet")
    assert back["time_utc"].dtype == "datetime64[ns, UTC]"
    pd.testing.assert_frame_equal(back, ds, check_like=True)


def test_eight_day_dataset_from_matchups_and_dataset(tmp_path):
    chip = write_chip(tmp_path / "a.nc", T0)
    smp = samples_df(
        [
            {},
            {"sample_id": "dup"},  # second sample matched to the same overpass
            {"time_utc": T0 + 8 * DAY, LABEL: 4.0},
            {"time_utc": T0 + 7.5 * DAY, "site": "WE2", LABEL: 9.0},
            {"time_utc": T0, "depth_category": "Bottom"},
        ]
    )
    res = match_samples(smp, [chip], MATCHUP)
    assert len(res.matchups) == 2
    eight = eight_day_dataset(res.matchups, smp, dataset="e8", **LEAD)
    assert len(eight) == 1
    row = eight.iloc[0]
    assert row["horizon"] == "8day_ahead" and row["microcystin_ugL"] == 4.0
    assert row["label_time_utc"] == T0 + 8 * DAY
    assert row["time_utc"] == T0 + pd.Timedelta(minutes=2.5)
    assert row["dt_hours"] == pytest.approx(8 * 24 - 2.5 / 60)
    np.testing.assert_allclose(
        eight[[f"Rrs_{w:g}" for w in WL]].to_numpy()[0],
        res.matchups[[f"Rrs_{w:g}" for w in WL]].to_numpy()[0],
    )
    validate_dataset(eight)

    current = from_matchups(res.matchups)
    again = eight_day_dataset(current, smp, dataset="e8", **LEAD)
    pd.testing.assert_frame_equal(again, eight)


def test_eight_day_on_shipped_spectra():
    ds = from_shipped_table()
    first = ds[ds["station"] == "WE8"].iloc[0]
    smp = samples_df([{"time_utc": first["time_utc"] + 8 * DAY, LABEL: 0.7}])
    eight = eight_day_dataset(ds, smp, **LEAD)
    assert len(eight) >= 1
    assert (eight["station"] == "WE8").all()
    assert eight["time_utc"].min() == first["time_utc"]
    assert (eight["label_time_utc"] - eight["time_utc"]).between(6 * DAY, 10 * DAY).all()


@pytest.mark.parametrize(
    ("column", "change"),
    [
        ("censored", lambda d: d.drop(columns="censored")),
        ("microcystin_ugL", lambda d: d.assign(microcystin_ugL=-d["microcystin_ugL"])),
        ("log10_microcystin", lambda d: d.assign(log10_microcystin=d["log10_microcystin"] + 1)),
        ("time_utc", lambda d: d.assign(time_utc=d["time_utc"].dt.tz_localize(None))),
        ("horizon", lambda d: d.assign(horizon="next_week")),
        ("row_id", lambda d: d.assign(row_id="same")),
        ("lat", lambda d: d.assign(lat=np.nan)),
        ("stress_test", lambda d: d.assign(stress_test=1.0)),
    ],
)
def test_validation_error_names_the_column(tmp_path, column, change):
    ds = from_shipped_table().head(5)
    bad = change(ds)
    with pytest.raises(ValueError, match=f"'{column}'"):
        write_dataset(bad, tmp_path / "bad.parquet")
    assert not (tmp_path / "bad.parquet").exists()


def test_missing_input_columns_are_named(tmp_path):
    with pytest.raises(ValueError, match="match_lat"):
        from_matchups(pd.DataFrame({"sample_id": ["a"], "Rrs_400": [0.1]}))
    bad = pd.read_csv(data_path(*SHIPPED_TABLE)).drop(columns="label_source")
    bad.to_csv(tmp_path / "t.csv", index=False)
    with pytest.raises(ValueError, match=r"t\.csv.*label_source"):
        from_shipped_table(tmp_path / "t.csv")
