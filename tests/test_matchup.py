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


# --------------------------------------------------------------------------- threshold boundaries


def line_chip(path: Path, values: list[float]) -> Path:
    """A 1 x n chip, 100 m pixel spacing around (LAT0, LON0); pixel k has Rrs = values[k] at
    every band (NaN = flagged). Every pixel lies within 0.5 km of (LAT0, LON0)."""
    n = len(values)
    lat = np.full((1, n), LAT0)
    lon = (LON0 + 0.0012 * (np.arange(n) - n // 2))[None, :]
    rrs = np.repeat(np.asarray(values, dtype=float)[None, :, None], WL.size, axis=2)
    return write_chip(path, lat, lon, rrs, T0)


def _reason(res) -> str:
    return str(res.exclusions["reason"].iloc[0])


def test_valid_fraction_exactly_at_the_minimum_is_accepted(tmp_path):
    chip = line_chip(tmp_path / "a.nc", [0.004] * 5 + [np.nan] * 5)  # 5 valid of 10
    s = samples_df([{}])
    at = match_samples(s, [chip], replace(CFG, min_valid_frac=0.5))
    assert _reason(at) == "matched"
    m = at.matchups.iloc[0]
    assert (m["n_pixels"], m["n_valid"], m["valid_frac"]) == (10, 5, 0.5)
    above = match_samples(s, [chip], replace(CFG, min_valid_frac=0.5 + 1e-9))
    assert _reason(above) == "too_few_valid"
    assert above.candidates["reason"].tolist() == ["too_few_valid"]
    # 3 / 10 against a threshold computed as 0.1 + 0.2 (0.30000000000000004): float noise only
    three = line_chip(tmp_path / "b.nc", [0.004] * 3 + [np.nan] * 7)
    assert _reason(match_samples(s, [three], replace(CFG, min_valid_frac=0.1 + 0.2))) == "matched"
    assert _reason(match_samples(s, [three], replace(CFG, min_valid_frac=0.31))) == "too_few_valid"
    # the bounds of the setting: 0 and 1 are allowed, beyond is an error
    full = line_chip(tmp_path / "c.nc", [0.004] * 4)
    assert _reason(match_samples(s, [full], replace(CFG, min_valid_frac=1.0))) == "matched"
    assert _reason(match_samples(s, [chip], replace(CFG, min_valid_frac=0.0))) == "matched"
    for bad in (-0.01, 1.01):
        with pytest.raises(ValueError, match="min_valid_frac"):
            match_samples(s, [chip], replace(CFG, min_valid_frac=bad))


def test_min_valid_pixel_count_is_inclusive(tmp_path):
    chip = line_chip(tmp_path / "a.nc", [0.004, 0.004, 0.004, np.nan])  # 3 valid of 4
    s = samples_df([{}])
    res = match_samples(s, [chip], CFG, min_valid=3)
    assert _reason(res) == "matched" and res.params["min_valid"] == 3
    assert res.matchups["n_valid"].iloc[0] == 3
    assert _reason(match_samples(s, [chip], CFG, min_valid=4)) == "too_few_valid"
    with pytest.raises(ValueError, match="min_valid >= 1"):
        match_samples(s, [chip], CFG, min_valid=0)


def test_max_cv_is_inclusive(tmp_path):
    # 1, 2, 3 x 2**-8 (exact in float32): mean 2 x 2**-8, std (ddof=1) 2**-8, CV exactly 0.5
    chip = line_chip(tmp_path / "a.nc", [2.0**-8, 2.0**-7, 3 * 2.0**-8])
    s = samples_df([{}])
    res = match_samples(s, [chip], replace(CFG, max_cv=0.5))
    assert _reason(res) == "matched" and res.matchups["cv"].iloc[0] == 0.5
    assert _reason(match_samples(s, [chip], replace(CFG, max_cv=0.5 - 1e-9))) == "too_heterogeneous"


def test_mean_statistic_and_unknown_statistic(tmp_path):
    lat, lon = grid()
    rrs = spectra(5, 5, seed=4, spread=0.3)
    rrs[0, :] = np.nan  # a flagged row: the statistic is over valid pixels only
    chip = write_chip(tmp_path / "a.nc", lat, lon, rrs, T0)
    s = samples_df([{"lat": lat[2, 2], "lon": lon[2, 2]}])
    cfg = replace(CFG, max_cv=10.0, min_valid_frac=0.0)
    mean = match_samples(s, [chip], cfg, statistic="mean")
    median = match_samples(s, [chip], cfg)
    _, _, d = GEOD.inv(np.full(25, lon[2, 2]), np.full(25, lat[2, 2]), lon.ravel(), lat.ravel())
    flat = rrs.reshape(25, -1).astype(np.float32).astype(float)
    use = (d / 1000.0 <= CFG.radius_km) & np.isfinite(flat).all(axis=1)
    assert 5 <= use.sum() < 25 and mean.matchups["n_valid"].iloc[0] == use.sum()
    cols = [f"Rrs_{w:g}" for w in WL]
    np.testing.assert_allclose(mean.matchups[cols].to_numpy()[0], flat[use].mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(
        median.matchups[cols].to_numpy()[0], np.median(flat[use], axis=0), rtol=1e-6
    )
    assert not np.allclose(flat[use].mean(axis=0), np.median(flat[use], axis=0), rtol=1e-3)
    assert mean.matchups["statistic"].iloc[0] == "mean" and mean.params["statistic"] == "mean"
    with pytest.raises(ValueError, match="statistic must be 'median' or 'mean'"):
        match_samples(s, [chip], cfg, statistic="max")


# --------------------------------------------------------------------------- contracts and edges


def three_pixel_rows(path: Path, *cv_by_band: np.ndarray) -> Path:
    """One row of three pixels 100 m apart per CV profile, rows 0.5 deg apart (row k at
    LAT0 + 0.5 k); Rrs m - d, m, m + d per band, so the CV (ddof=1) is d / m = cv."""
    m = 0.008
    d = m * np.asarray(cv_by_band, dtype=float)  # (n_rows, n_bands)
    rrs = np.stack([m - d, np.full_like(d, m), m + d], axis=1)  # (n_rows, 3, n_bands)
    lat = LAT0 + 0.5 * np.arange(len(cv_by_band))[:, None] + np.zeros((1, 3))
    lon = LON0 + 0.0012 * np.arange(-1, 2)[None, :] + np.zeros((len(cv_by_band), 1))
    return write_chip(path, lat, lon, rrs, T0)


def test_cv_is_the_median_over_the_closed_cv_window_per_sample(tmp_path):
    # WL 400..700: the window 400-570 holds 400, 443, 490, 550, 570 (both ends included)
    cvs = np.array([0.4, 0.1, 0.2, 0.3, 0.4, 0.9, 0.9, 0.9])
    chip = three_pixel_rows(tmp_path / "a.nc", cvs, cvs / 4)  # two samples, one chip
    s = samples_df([{}, {"lat": LAT0 + 0.5, "station_lat": LAT0 + 0.5}])
    res = match_samples(s, [chip], replace(CFG, max_cv=1.0))
    cv = res.matchups.set_index("sample_id")["cv"]
    # median of 0.4, 0.1, 0.2, 0.3, 0.4 (not of 4 or 8 bands: 0.25 or 0.4); a quarter of it for
    # the second sample (not the median over both samples' bands)
    assert cv["s0"] == pytest.approx(0.3, rel=1e-5) and cv["s1"] == pytest.approx(0.075, rel=1e-5)
    narrow = match_samples(s, [chip], replace(CFG, max_cv=1.0), cv_window_nm=(440.0, 500.0))
    assert narrow.matchups["cv"].iloc[0] == pytest.approx(0.15, rel=1e-5)  # 0.1 and 0.2
    assert narrow.params["cv_window_nm"] == [440.0, 500.0]
    with pytest.raises(ValueError, match=r"a\.nc: no wavelength in the CV window \(100"):
        match_samples(s, [chip], CFG, cv_window_nm=(100.0, 200.0))


def test_cv_of_exactly_two_valid_pixels_is_tested(tmp_path):
    chip = line_chip(tmp_path / "a.nc", [0.002, 0.008])  # CV = std([2, 8]) / 5 = 0.85
    res = match_samples(samples_df([{}]), [chip], replace(CFG, min_valid_frac=0.0))
    assert _reason(res) == "too_heterogeneous"
    assert res.candidates["cv"].iloc[0] == pytest.approx(np.std([2.0, 8.0], ddof=1) / 5.0)
    one = line_chip(tmp_path / "b.nc", [0.002, np.nan])
    single = match_samples(samples_df([{}]), [one], replace(CFG, min_valid_frac=0.0))
    assert _reason(single) == "matched" and np.isnan(single.matchups["cv"].iloc[0])


def test_output_tables_have_exactly_their_columns_and_dtypes(tmp_path):
    lat, lon = grid()
    chip = write_chip(tmp_path / "a.nc", lat, lon, spectra(5, 5), T0)
    s = samples_df([{}, {"time_utc": T0 + pd.Timedelta(days=9)}])
    s.index = [10, 11]  # not a default index: no 'index' column may appear
    res = match_samples(s, [chip], CFG)
    rrs = [f"Rrs_{w:g}" for w in WL]
    match_cols = [
        "granule", "processing_version", "granule_time_utc", "dt_hours", "match_lat",
        "match_lon", "dist_km", "n_pixels", "n_valid", "valid_frac", "cv", "statistic",
    ]  # fmt: skip
    assert list(res.matchups.columns) == [*s.columns, *match_cols, *rrs]
    assert list(res.candidates.columns) == [
        "sample_id", "site", "time_utc", *match_cols[:9], "valid_frac", "cv", "statistic",
        "passed", "selected", "reason", *rrs,
    ]  # fmt: skip
    assert list(res.exclusions.columns) == [
        "sample_id", "site", "time_utc", "status", "reason", "n_candidates",
    ]  # fmt: skip
    for t in (res.matchups, res.candidates, res.exclusions):
        assert isinstance(t.index, pd.RangeIndex) and t.index.start == 0
    assert (res.matchups[rrs].dtypes == np.float32).all()
    assert res.params == {
        "window_days": 4.0, "radius_km": 2.0, "depth_categories": ["Surface"],
        "min_valid_frac": 0.5, "max_cv": 0.15, "min_valid": 1, "statistic": "median",
        "drop_position_flagged": True, "cv_window_nm": [400.0, 570.0], "n_chips": 1,
    }  # fmt: skip
    # without chips the tables keep their columns and dtypes, and no band column appears
    empty = match_samples(s, [], CFG)
    assert not [c for c in empty.candidates.columns if c.startswith("Rrs_")]
    assert empty.candidates.dtypes.astype(str).to_dict() == {
        c: str(t) for c, t in res.candidates.dtypes.items() if not c.startswith("Rrs_")
    }
    assert empty.params["n_chips"] == 0


def test_valid_fraction_of_one_pixel_and_of_none(tmp_path):
    lat, lon = grid()
    chip = write_chip(tmp_path / "a.nc", lat, lon, spectra(5, 5), T0)
    s = samples_df([{"lat": lat[2, 3], "lon": lon[2, 3]}, {"lat": LAT0 + 3.0}])
    res = match_samples(s, [chip], replace(CFG, radius_km=0.2))
    m = res.matchups.iloc[0]
    assert (m["n_pixels"], m["n_valid"], m["valid_frac"]) == (1, 1, 1.0)
    far = res.candidates.set_index("sample_id").loc["s1"]
    assert far["reason"] == "outside_swath" and np.isnan(far["valid_frac"])


def test_sample_rows_with_bad_positions_flags_or_times(tmp_path):
    lat, lon = grid()
    chip = write_chip(tmp_path / "a.nc", lat, lon, spectra(5, 5), T0)
    s = samples_df(
        [
            {"position_flag": np.nan},  # unknown flag: not flagged
            {"lon": np.nan},  # half a position: the station median is used
            {"lat": np.nan, "lon": np.nan, "station_lon": np.nan},  # station half missing
        ]
    )
    s["position_flag"] = s["position_flag"].astype(object)
    res = match_samples(s, [chip], CFG)
    assert res.exclusions["reason"].tolist() == ["matched", "matched", "no_position"]
    assert res.matchups["match_lat"].tolist() == [LAT0, LAT0]
    late = samples_df([{}, {"sample_id": "x7", "time_utc": pd.NaT}])
    with pytest.raises(ValueError, match="samples column 'time_utc' is missing for sample_id 'x7'"):
        match_samples(late, [chip], CFG)
    for clash in ("Rrs_400", "granule"):
        with pytest.raises(
            ValueError, match=rf"already has matchup output column\(s\) \['{clash}'\]"
        ):
            match_samples(samples_df([{clash: 0.1}]), [chip], CFG)


@pytest.mark.parametrize(
    ("kw", "ok"),
    [
        ({"window_days": 0.0}, True),
        ({"window_days": -1.0}, False),
        ({"radius_km": 0.0}, False),
        ({"radius_km": 1e-3}, True),
    ],
)
def test_window_and_radius_limits(tmp_path, kw, ok):
    lat, lon = grid()
    chip = write_chip(tmp_path / "a.nc", lat, lon, spectra(5, 5), T0)
    s = samples_df([{"time_utc": mid(T0), "lat": lat[2, 2], "lon": lon[2, 2]}])
    if ok:
        assert _reason(match_samples(s, [chip], replace(CFG, **kw))) == "matched"
    else:
        with pytest.raises(ValueError, match="need window_days >= 0, radius_km > 0"):
            match_samples(s, [chip], replace(CFG, **kw))


def test_time_window_to_the_nanosecond_and_chips_out_of_window_first(tmp_path):
    lat, lon = grid()
    old = write_chip(tmp_path / "old.nc", lat, lon, spectra(5, 5), T0 - pd.Timedelta(days=30))
    chip = write_chip(tmp_path / "a.nc", lat, lon, spectra(5, 5), T0)
    s = samples_df(
        [
            {"time_utc": mid(T0) + pd.Timedelta(days=4)},
            {"time_utc": mid(T0) + pd.Timedelta(days=4, nanoseconds=1)},
        ]
    )
    res = match_samples(s, [old, chip], CFG)  # the first chip in time has no sample in window
    assert res.exclusions["reason"].tolist() == ["matched", "no_granule_in_window"]


def test_duplicate_overpass_goes_to_the_smaller_time_gap_not_the_name(tmp_path):
    lat, lon = grid()
    rrs = spectra(5, 5)
    early = write_chip(tmp_path / "e.nc", lat, lon, rrs, T0 - pd.Timedelta(hours=30))
    late = write_chip(tmp_path / "l.nc", lat, lon, rrs, T0 + pd.Timedelta(hours=1))
    res = match_samples(samples_df([{"time_utc": T0}]), [early, late], CFG)
    assert res.matchups["granule"].iloc[0].startswith("PACE_OCI.20240716T192000")
    assert sorted(res.candidates["reason"]) == ["duplicate_overpass", "matched"]


@pytest.mark.parametrize(
    ("lat0", "lon0", "spread"),
    [(41.75, -83.25, 3.0), (70.0, 20.0, 2.0), (-33.0, 151.0, 2.0), (0.0, 0.0, 1.0)],
)
def test_pixel_cut_keeps_every_pixel_within_the_radius(lat0, lon0, spread):
    from spectm.matchup import _pixels_near

    rng = np.random.default_rng(5)
    plat = lat0 + rng.uniform(-spread, spread, 20_000)
    plon = lon0 + rng.uniform(-spread, spread, 20_000)
    qlat = lat0 + rng.uniform(-spread, spread, 40)
    qlon = lon0 + rng.uniform(-spread, spread, 40)
    radius = 25.0
    kept = _pixels_near(plat, plon, qlat, qlon, radius)
    assert kept is not None and kept.size < plat.size  # a real cut
    for q in range(qlat.size):  # every pixel within the radius of a query, by pyproj
        _, _, d = GEOD.inv(np.full(plat.size, qlon[q]), np.full(plat.size, qlat[q]), plon, plat)
        assert np.isin(np.flatnonzero(d / 1000.0 <= radius), kept).all()


def test_pixel_cut_steps_aside_near_a_pole_and_the_antimeridian():
    from spectm.matchup import _pixels_near

    lat, lon = np.array([10.0, 11.0]), np.array([0.0, 1.0])
    assert _pixels_near(lat, lon, np.array([89.99]), np.array([0.0]), 5.0) is None
    assert _pixels_near(lat, lon, np.array([10.0]), np.array([179.99]), 5.0) is None
    assert _pixels_near(lat, lon, np.array([]), np.array([]), 5.0) is None


@pytest.mark.parametrize(("how", "pad_limit"), [("mean", None), ("median", None),
                                                ("median", 0), ("std", None)])  # fmt: skip
def test_group_reduction_matches_numpy_per_group(how, pad_limit, monkeypatch):
    import spectm.matchup as mu
    from spectm.matchup import _group_reduce

    if pad_limit is not None:  # the pandas path of the median, for groups too big to pad
        monkeypatch.setattr(mu, "_PAD_LIMIT", pad_limit)

    rng = np.random.default_rng(2)
    values = rng.normal(size=(30, 4))
    groups = rng.choice([0, 2, 3, 6], size=30)
    groups[0] = 5  # group 5 has one row: std NaN; groups 1 and 4 are empty: NaN
    out = _group_reduce(values, groups, 7, how)
    for g in range(7):
        rows = values[groups == g]
        if rows.shape[0] == 0 or (how == "std" and rows.shape[0] < 2):
            assert np.isnan(out[g]).all()
        else:
            expect = {"mean": rows.mean(0), "median": np.median(rows, 0)}.get(how)
            expect = rows.std(0, ddof=1) if how == "std" else expect
            np.testing.assert_allclose(out[g], expect, rtol=1e-12)
