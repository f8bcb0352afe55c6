"""Matchups on tiny generated chips written in the chip contract (seeded, in tmp_path)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from pyproj import Geod

from spectm.io.chips import ChipHeader, ChipPixels, load_chip_pixels
from spectm.matchup import (
    REASONS,
    chord_radius,
    match_samples,
    unit_vectors,
    window_stats,
    write_matchups,
)
from tests.conftest import MATCHUP

CFG = MATCHUP

WL = np.array([400.0, 443.0, 490.0, 550.0, 570.0, 620.0, 665.0, 700.0])
GEOD = Geod(ellps="WGS84")
LAT0, LON0 = 41.75, -83.25
T0 = pd.Timestamp("2024-07-16T18:20:00Z")


def write_chip(
    path: Path,
    lat: np.ndarray,
    lon: np.ndarray,
    rrs: np.ndarray,
    start: pd.Timestamp,
    *,
    minutes: float = 5.0,
    version: str = "3.0",
    granule: str | None = None,
) -> Path:
    """A chip in the contract: Rrs (y, x, wavelength), 2-D lat/lon, l2_flags, attrs."""
    end = start + pd.Timedelta(minutes=minutes)
    flags = np.where(np.isfinite(rrs).all(axis=-1), 0, 1 << 9).astype(np.int32)
    granule = granule or f"PACE_OCI.{start.strftime('%Y%m%dT%H%M%S')}.L2.OC_AOP.V3_0.nc"
    ds = xr.Dataset(
        {
            "Rrs": (("y", "x", "wavelength"), rrs.astype(np.float32)),
            "l2_flags": (("y", "x"), flags),
        },
        coords={"wavelength": WL, "lat": (("y", "x"), lat), "lon": (("y", "x"), lon)},
        attrs={
            "granule": granule,
            "processing_version": version,
            "time_coverage_start": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "time_coverage_end": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "sensor": "OCI",
        },
    )
    ds.to_netcdf(path, engine="h5netcdf")
    return path


def grid(ny: int = 5, nx: int = 5, step: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    """A slightly rotated (swath-like) lat/lon grid centred on (LAT0, LON0)."""
    j, i = np.meshgrid(np.arange(nx) - nx // 2, np.arange(ny) - ny // 2)
    return LAT0 + step * i + 0.001 * j, LON0 + step * j - 0.001 * i


def spectra(ny: int, nx: int, seed: int = 0, spread: float = 0.02) -> np.ndarray:
    """Smooth positive spectra with a small pixel-to-pixel spread, shape (ny, nx, n_bands)."""
    rng = np.random.default_rng(seed)
    base = 0.004 + 0.002 * np.sin(WL / 60.0)
    return base * (1.0 + spread * rng.standard_normal((ny, nx, WL.size)))


def samples_df(rows: list[dict]) -> pd.DataFrame:
    """A samples table with every contract column; ``rows`` override the defaults."""
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
            "particulate_microcystin_ugL": 1.0,
            "particulate_microcystin_ugL_censored": False,
            "particulate_microcystin_ugL_dl": 0.1,
            "secchi_m": 0.5 + k,
        }
        base.update(r)
        out.append(base)
    df = pd.DataFrame(out)
    df["time_utc"] = pd.to_datetime(df["time_utc"], utc=True).dt.as_unit("ns")
    return df


def mid(start: pd.Timestamp, minutes: float = 5.0) -> pd.Timestamp:
    return start + pd.Timedelta(minutes=minutes) / 2


def offset(lat: float, lon: float, az: float, km: float) -> tuple[float, float]:
    lon2, lat2, _ = GEOD.fwd(lon, lat, az, km * 1000.0)
    return float(lat2), float(lon2)


def test_sample_on_pixel_gets_exact_spectrum_and_brute_force_median(tmp_path):
    lat, lon = grid()
    rrs = spectra(5, 5)
    chip = write_chip(tmp_path / "a.nc", lat, lon, rrs, T0)
    s = samples_df([{"lat": lat[2, 3], "lon": lon[2, 3]}])
    small = match_samples(s, [chip], replace(CFG, radius_km=0.2))
    np.testing.assert_array_equal(
        small.matchups[[f"Rrs_{w:g}" for w in WL]].to_numpy()[0], rrs[2, 3].astype(np.float32)
    )
    assert small.matchups["dist_km"].iloc[0] == pytest.approx(0.0, abs=1e-9)
    assert small.matchups["n_pixels"].iloc[0] == 1

    res = match_samples(s, [chip], replace(CFG, max_cv=1.0))
    _, _, d = GEOD.inv(np.full(25, lon[2, 3]), np.full(25, lat[2, 3]), lon.ravel(), lat.ravel())
    inside = d / 1000.0 <= 2.0
    expect = np.median(rrs.reshape(25, -1)[inside].astype(np.float32).astype(float), axis=0)
    got = res.matchups[[f"Rrs_{w:g}" for w in WL]].to_numpy()[0]
    np.testing.assert_allclose(got, expect, rtol=1e-6)
    assert res.matchups["n_pixels"].iloc[0] == inside.sum()
    assert res.matchups["secchi_m"].iloc[0] == 0.5  # other sample columns carried untouched


def test_dt_sign_is_granule_minus_sample(tmp_path):
    lat, lon = grid()
    chip = write_chip(tmp_path / "a.nc", lat, lon, spectra(5, 5), T0)
    s = samples_df([{"time_utc": mid(T0) - pd.Timedelta(hours=30)}])
    m = match_samples(s, [chip], CFG).matchups
    assert m["dt_hours"].iloc[0] == pytest.approx(30.0)
    assert m["granule_time_utc"].iloc[0] == mid(T0)
    s2 = samples_df([{"time_utc": mid(T0) + pd.Timedelta(hours=5)}])
    assert match_samples(s2, [chip], CFG).matchups["dt_hours"].iloc[0] == pytest.approx(-5.0)


@pytest.mark.parametrize(("km", "reason"), [(1.995, "matched"), (2.005, "outside_swath")])
def test_radius_boundary_is_geodesic(tmp_path, km, reason):
    lat = np.array([[LAT0, LAT0 + 1.0]])
    lon = np.array([[LON0, LON0 + 1.0]])
    chip = write_chip(tmp_path / "a.nc", lat, lon, spectra(1, 2), T0)
    slat, slon = offset(LAT0, LON0, 37.0, km)
    res = match_samples(samples_df([{"lat": slat, "lon": slon}]), [chip], CFG)
    assert res.exclusions["reason"].iloc[0] == reason
    if reason == "matched":
        assert res.matchups["dist_km"].iloc[0] == pytest.approx(km, abs=1e-6)


def test_tree_counts_equal_brute_force_geodesic():
    rng = np.random.default_rng(3)
    plat = LAT0 + rng.uniform(-0.1, 0.1, 4000)
    plon = LON0 + rng.uniform(-0.1, 0.1, 4000)
    slat = LAT0 + rng.uniform(-0.08, 0.08, 50)
    slon = LON0 + rng.uniform(-0.08, 0.08, 50)
    chip = _pixels(plat, plon)
    st = window_stats(chip, slat, slon, radius_km=2.0)
    for k in range(50):
        _, _, d = GEOD.inv(np.full(plat.size, slon[k]), np.full(plat.size, slat[k]), plon, plat)
        assert st["n_pixels"][k] == (d <= 2000.0).sum()
        assert st["dist_km"][k] == pytest.approx(d.min() / 1000.0)
    assert chord_radius(2.0) > np.linalg.norm(
        unit_vectors([0.0], [0.0]) - unit_vectors([0.0], [0.018])
    )


def _pixels(plat: np.ndarray, plon: np.ndarray):
    rrs = np.tile(0.005 + 0.001 * np.arange(WL.size), (plat.size, 1)).astype(np.float32)
    head = ChipHeader(Path("mem"), "g", "3.0", T0, T0, WL)
    return ChipPixels(head, (1, plat.size), plat, plon, rrs, np.ones(plat.size, bool))


def test_outside_swath_all_flagged_too_few_valid_and_heterogeneous(tmp_path):
    lat, lon = grid()
    rrs = spectra(5, 5)
    flagged = rrs.copy()
    flagged[:] = np.nan
    sparse = flagged.copy()
    sparse[2, 2] = rrs[2, 2]
    wild = spectra(5, 5, seed=1, spread=0.8)
    paths = [
        write_chip(tmp_path / "flag.nc", lat, lon, flagged, T0, granule="g1"),
        write_chip(tmp_path / "sparse.nc", lat + 1, lon, sparse, T0, granule="g2"),
        write_chip(tmp_path / "wild.nc", lat + 2, lon, wild, T0, granule="g3"),
    ]
    s = samples_df(
        [
            {"lat": LAT0 + 5.0},  # far from every chip
            {"lat": LAT0},  # on the flagged chip
            {"lat": LAT0 + 1},  # one valid pixel among ~9
            {"lat": LAT0 + 2},  # valid but heterogeneous
        ]
    )
    res = match_samples(s, paths, CFG)
    assert list(res.exclusions["reason"]) == [
        "outside_swath",
        "all_flagged",
        "too_few_valid",
        "too_heterogeneous",
    ]
    c = res.candidates.set_index(["sample_id", "granule"])
    assert c["n_pixels"].xs("s1").max() > 0 and c["n_valid"].xs("s1").max() == 0
    assert np.isnan(c["dist_km"].xs("s1")).all()
    assert (c["cv"].xs("s3").dropna() > 0.15).all()
    assert len(res.matchups) == 0
    # The same heterogeneous window passes with a looser threshold.
    assert (
        match_samples(s.iloc[[3]], paths, replace(CFG, max_cv=5.0)).exclusions["reason"].iloc[0]
        == "matched"
    )


def test_best_failing_candidate_gives_the_reason(tmp_path):
    lat, lon = grid()
    nan = np.full((5, 5, WL.size), np.nan)
    a = write_chip(tmp_path / "a.nc", lat + 3, lon, spectra(5, 5), T0)  # out of reach
    b = write_chip(tmp_path / "b.nc", lat, lon, nan, T0 + pd.Timedelta(days=1))  # all flagged
    res = match_samples(samples_df([{}]), [a, b], CFG)
    assert res.exclusions["reason"].iloc[0] == "all_flagged"
    assert set(res.candidates["reason"]) == {"outside_swath", "all_flagged"}
    assert res.exclusions["n_candidates"].iloc[0] == 2


@pytest.mark.parametrize(
    ("shift", "reason"),
    [
        (pd.Timedelta(days=4), "matched"),
        (-pd.Timedelta(days=4), "matched"),
        (pd.Timedelta(days=4, seconds=1), "no_granule_in_window"),
        (-pd.Timedelta(days=4, seconds=1), "no_granule_in_window"),
    ],
)
def test_window_boundary_four_days(tmp_path, shift, reason):
    lat, lon = grid()
    chip = write_chip(tmp_path / "a.nc", lat, lon, spectra(5, 5), T0)
    res = match_samples(samples_df([{"time_utc": mid(T0) + shift}]), [chip], CFG)
    assert res.exclusions["reason"].iloc[0] == reason


def test_duplicate_policy_smallest_dt_then_distance(tmp_path):
    lat, lon = grid()
    rrs = spectra(5, 5)
    t_near, t_far = T0 + pd.Timedelta(hours=1), T0 + pd.Timedelta(hours=30)
    near = write_chip(tmp_path / "near.nc", lat, lon, rrs, t_near)
    far = write_chip(tmp_path / "far.nc", lat, lon, rrs, t_far)
    res = match_samples(samples_df([{"time_utc": T0}]), [far, near], CFG)
    assert res.matchups["granule_time_utc"].iloc[0] == mid(t_near)
    assert sorted(res.candidates["reason"]) == ["duplicate_overpass", "matched"]
    assert res.candidates["passed"].all() and res.candidates["selected"].sum() == 1

    # Same |dt| (one before, one after): the chip with the nearer valid pixel wins.
    before = write_chip(tmp_path / "before.nc", lat, lon + 0.004, rrs, T0 - pd.Timedelta(hours=2))
    after = write_chip(tmp_path / "after.nc", lat, lon, rrs, T0 + pd.Timedelta(hours=2))
    s = samples_df([{"time_utc": T0 + pd.Timedelta(minutes=2.5), "lon": LON0 + 0.0001}])
    m = match_samples(s, [before, after], CFG).matchups
    assert m["granule"].iloc[0].startswith("PACE_OCI.20240716T202000")


def test_every_sample_once_in_exclusions_with_precedence(tmp_path):
    lat, lon = grid()
    chip = write_chip(tmp_path / "a.nc", lat, lon, spectra(5, 5), T0)
    s = samples_df(
        [
            {},
            {"depth_category": "Bottom", "position_flag": True},  # not_surface wins
            {"position_flag": True},
            {"lat": np.nan, "lon": np.nan},  # falls back to the station median
            {"lat": np.nan, "lon": np.nan, "station_lat": np.nan, "station_lon": np.nan},
            {"time_utc": T0 + pd.Timedelta(days=20)},
            {"depth_category": "Scum"},
        ]
    )
    res = match_samples(s, [chip], CFG)
    ex = res.exclusions
    assert list(ex["sample_id"]) == list(s["sample_id"])
    assert ex["sample_id"].is_unique
    assert list(ex["reason"]) == [
        "matched",
        "not_surface",
        "position_flagged",
        "matched",
        "no_position",
        "no_granule_in_window",
        "not_surface",
    ]
    assert set(ex["reason"]) <= set(REASONS)
    assert (ex["status"] == np.where(ex["reason"] == "matched", "matched", "excluded")).all()
    assert list(res.matchups["sample_id"]) == ["s0", "s3"]
    assert res.matchups["match_lat"].iloc[1] == LAT0
    kept = match_samples(
        s, [chip], replace(CFG, drop_position_flagged=False, depth_categories=("Surface", "Scum"))
    )
    assert kept.exclusions["reason"].tolist()[2] == "matched"
    assert kept.exclusions["reason"].tolist()[6] == "matched"


def test_write_matchups_roundtrip(tmp_path):
    lat, lon = grid()
    chip = write_chip(tmp_path / "a.nc", lat, lon, spectra(5, 5), T0)
    res = match_samples(samples_df([{}, {"time_utc": T0 + pd.Timedelta(days=9)}]), [chip], CFG)
    out = tmp_path / "out"
    write_matchups(res, out / "m.parquet", out / "c.parquet", out / "e.parquet")
    m = pd.read_parquet(out / "m.parquet")
    assert m["granule_time_utc"].dtype == "datetime64[ns, UTC]"
    assert len(m) == 1 and len(pd.read_parquet(out / "e.parquet")) == 2
    assert sorted(p.name for p in out.iterdir()) == ["c.parquet", "e.parquet", "m.parquet"]


def test_no_chips_and_bad_input(tmp_path):
    res = match_samples(samples_df([{}]), [], CFG)
    assert res.exclusions["reason"].iloc[0] == "no_granule_in_window"
    assert len(res.candidates) == 0 and len(res.matchups) == 0
    with pytest.raises(ValueError, match="station_lat"):
        match_samples(samples_df([{}]).drop(columns="station_lat"), [], CFG)
    with pytest.raises(ValueError, match="sample_id"):
        match_samples(samples_df([{"sample_id": "x"}, {"sample_id": "x"}]), [], CFG)
    naive = samples_df([{}])
    naive["time_utc"] = naive["time_utc"].dt.tz_localize(None)
    with pytest.raises(ValueError, match="time_utc"):
        match_samples(naive, [], CFG)
    lat, lon = grid()
    bad = write_chip(tmp_path / "bad.nc", lat, lon, spectra(5, 5), T0)
    with xr.open_dataset(bad, engine="h5netcdf") as ds:
        ds2 = ds.load()
    del ds2.attrs["granule"]
    ds2.to_netcdf(tmp_path / "bad2.nc", engine="h5netcdf")
    with pytest.raises(ValueError, match=r"bad2\.nc.*granule"):
        match_samples(samples_df([{}]), [tmp_path / "bad2.nc"], CFG)


def test_load_chip_pixels_flattens_and_marks_valid(tmp_path):
    lat, lon = grid(2, 3)
    rrs = spectra(2, 3)
    rrs[1, 2, 4] = np.nan
    chip = load_chip_pixels(write_chip(tmp_path / "a.nc", lat, lon, rrs, T0))
    assert chip.rrs.shape == (6, WL.size) and chip.valid.tolist() == [True] * 5 + [False]
    assert chip.lat[4] == lat[1, 1] and chip.header.time_utc == mid(T0)
