"""Matchups: 10^4 samples x 100 granules x 10^5 pixels, against a brute-force haversine join.

    python bench/bench_matchup.py [--samples 10000] [--granules 100] [--side 316] [--smoke]

Granules are generated in memory one at a time (``ChipPixels``: 172 PACE OCI bands, float32 Rrs,
a round ~18 % cloud flagged, a 1.2 km swath-like grid, one granule every 4 days); samples are
spread over the footprint and over the whole period, so each granule's +-4-day window holds
about 2 % of them. For every granule both sides compute, for the samples in its time window, the
pixels within 2 km and their window statistics (``n_pixels``, ``n_valid``, nearest valid
distance, CV, per-band median), and the results are checked identical:

* spectm: ``spectm.matchup.window_stats`` (a k-d tree of the granule's pixels, one ball query
  for all samples, the exact WGS84 geodesic on the tree's candidates);
* brute force: for each sample, the haversine distance to every pixel of the granule (sphere of
  the smallest WGS84 radius of curvature, so no pixel within 2 km geodesic is missed), the exact
  geodesic on those within 2 km, then the statistics of that sample's pixels.

Both sides use the same geodesic, so the pixel sets must agree exactly; a plain haversine join
would differ from the WGS84 geodesic by up to 0.5 % of the distance at the 2 km edge. The time
filter (the same for both) and the generation of each granule are not timed. The whole
``match_samples`` (chip files, tables, reasons) is ``bench_matchup``'s concern only through this
core: its bookkeeping is measured once at the end on the first 10 granules written as chips.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr
from common import header, parser, result

from spectm.config import read_config
from spectm.geo import geodesic_km
from spectm.io.chips import ChipHeader, ChipPixels
from spectm.matchup import _R_MIN_KM, CV_WINDOW_NM, match_samples, window_stats
from spectm.spectral.bands import pace_oci_rrs_wavelengths

LAT0, LON0 = 41.3, -83.5
STEP_LAT, STEP_LON = 0.0108, 0.0145  # ~1.2 km at 41.5 N
T0 = pd.Timestamp("2024-07-01T18:00:00Z")
DAYS_PER_GRANULE = 4.0


def make_granule(k: int, side: int, wl: np.ndarray) -> ChipPixels:
    rng = np.random.default_rng([7, k])
    j, i = np.meshgrid(np.arange(side), np.arange(side))
    lat = (LAT0 + STEP_LAT * i + 0.0005 * j).ravel()
    lon = (LON0 + STEP_LON * j - 0.0005 * i).ravel()
    base = (0.004 + 0.002 * np.sin(wl / 60.0)).astype(np.float32)
    rrs = base * (1 + 0.03 * rng.standard_normal((side * side, wl.size), dtype=np.float32))
    cloud = (np.hypot(i - rng.uniform(0, side), j - rng.uniform(0, side)) < side * 0.24).ravel()
    rrs[cloud] = np.nan
    start = T0 + pd.Timedelta(days=DAYS_PER_GRANULE * k)
    granule = f"PACE_OCI.{start.strftime('%Y%m%dT%H%M%S')}.L2.OC_AOP.V3_0.nc"
    hdr = ChipHeader(Path(granule), granule, "3.0", start, start, wl)
    return ChipPixels(hdr, (side, side), lat, lon, rrs, ~cloud)


def make_samples(n: int, side: int, days: float, rng: np.random.Generator) -> pd.DataFrame:
    lat = LAT0 + rng.uniform(0, STEP_LAT * side, n)
    lon = LON0 + rng.uniform(0, STEP_LON * side, n)
    return pd.DataFrame(
        {
            "sample_id": [f"s{k:06d}" for k in range(n)],
            "site": rng.choice(["WE2", "WE4", "WE8", "WE12"], n),
            "time_utc": T0 + pd.to_timedelta(rng.uniform(-2, days, n), unit="D"),
            "lat": lat,
            "lon": lon,
            "depth_category": "Surface",
            "position_flag": False,
            "station_lat": lat,
            "station_lon": lon,
        }
    )


def brute_force(chip: ChipPixels, lat: np.ndarray, lon: np.ndarray, radius_km: float) -> dict:
    """The window statistics of each sample from its distance to every pixel of the granule."""
    n, nb = lat.size, chip.rrs.shape[1]
    wl = chip.header.wavelength
    cv_bands = (wl >= CV_WINDOW_NM[0]) & (wl <= CV_WINDOW_NM[1])
    out = {
        "n_pixels": np.zeros(n, np.int64),
        "n_valid": np.zeros(n, np.int64),
        "dist_km": np.full(n, np.nan),
        "cv": np.full(n, np.nan),
        "rrs": np.full((n, nb), np.nan),
    }
    plat, plon = np.radians(chip.lat), np.radians(chip.lon)
    cos_plat = np.cos(plat)
    for q in range(n):
        qlat, qlon = np.radians(lat[q]), np.radians(lon[q])
        h = np.sin((plat - qlat) / 2) ** 2
        h += np.cos(qlat) * cos_plat * np.sin((plon - qlon) / 2) ** 2
        near = np.flatnonzero(2 * _R_MIN_KM * np.arcsin(np.sqrt(h)) <= radius_km * (1 + 1e-9))
        d = geodesic_km(lat[q], lon[q], chip.lat[near], chip.lon[near])
        near, d = near[d <= radius_km], d[d <= radius_km]
        ok = chip.valid[near]
        out["n_pixels"][q], out["n_valid"][q] = near.size, ok.sum()
        if ok.any():
            values = chip.rrs[near[ok]].astype(float)
            out["dist_km"][q] = d[ok].min()
            out["rrs"][q] = np.median(values, axis=0)
            if ok.sum() >= 2:
                sub = values[:, cv_bands]
                out["cv"][q] = np.median(sub.std(axis=0, ddof=1) / np.abs(sub.mean(axis=0)))
    return out


def same(a: dict, b: dict) -> bool:
    return (
        np.array_equal(a["n_pixels"], b["n_pixels"])
        and np.array_equal(a["n_valid"], b["n_valid"])
        and np.array_equal(a["dist_km"], b["dist_km"], equal_nan=True)
        and np.allclose(a["cv"], b["cv"], rtol=1e-9, equal_nan=True)
        and np.allclose(a["rrs"], b["rrs"], rtol=1e-12, equal_nan=True)
    )


def write_chip(chip: ChipPixels, path: Path) -> None:
    ny, nx = chip.shape
    t = chip.header.time_utc
    xr.Dataset(
        {
            "Rrs": (("y", "x", "wavelength"), chip.rrs.reshape(ny, nx, -1)),
            "l2_flags": (("y", "x"), np.where(chip.valid, 0, 1 << 9).reshape(ny, nx)),
        },
        coords={
            "wavelength": chip.header.wavelength,
            "lat": (("y", "x"), chip.lat.reshape(ny, nx)),
            "lon": (("y", "x"), chip.lon.reshape(ny, nx)),
        },
        attrs={
            "granule": chip.header.granule,
            "processing_version": "3.0",
            "time_coverage_start": t.isoformat(),
            "time_coverage_end": t.isoformat(),
            "sensor": "OCI",
        },
    ).to_netcdf(path, engine="h5netcdf")


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=10_000)
    p.add_argument("--granules", type=int, default=100)
    p.add_argument("--side", type=int, default=316, help="granule side (pixels): side^2 pixels")
    a = p.parse_args()
    if a.smoke:
        a.samples, a.granules, a.side = 300, 3, 40
    header()
    cfg = read_config().matchup
    wl = pace_oci_rrs_wavelengths()
    rng = np.random.default_rng(0)
    samples = make_samples(a.samples, a.side, DAYS_PER_GRANULE * a.granules, rng)
    t_ns = pd.DatetimeIndex(samples["time_utc"]).as_unit("ns").asi8
    lat, lon = samples["lat"].to_numpy(), samples["lon"].to_numpy()
    window_ns = round(cfg.window_days * 86400e9)
    t_ours = t_brute = 0.0
    pairs = matched = 0
    for k in range(a.granules):
        chip = make_granule(k, a.side, wl)
        idx = np.flatnonzero(np.abs(chip.header.time_utc.value - t_ns) <= window_ns)
        t0 = time.perf_counter()
        ours = window_stats(chip, lat[idx], lon[idx], radius_km=cfg.radius_km)
        t1 = time.perf_counter()
        brute = brute_force(chip, lat[idx], lon[idx], cfg.radius_km)
        t2 = time.perf_counter()
        t_ours, t_brute = t_ours + t1 - t0, t_brute + t2 - t1
        if not same(ours, brute):
            raise SystemExit(f"granule {k}: spectm and the brute force disagree")
        pairs += idx.size
        matched += int((ours["n_valid"] > 0).sum())
    n_pix = a.side**2
    print(
        f"{a.samples} samples x {a.granules} granules x {n_pix} pixels x {wl.size} bands: "
        f"{pairs} sample-granule pairs in the +-{cfg.window_days:g}-day windows, {matched} with "
        f"valid pixels within {cfg.radius_km:g} km; results identical"
    )
    print(f"  spectm window_stats: {t_ours:.2f} s; brute force: {t_brute:.2f} s")

    with tempfile.TemporaryDirectory() as tmp:  # the whole match_samples, 10 chip files
        k_files = min(10, a.granules)
        paths = []
        for k in range(k_files):
            paths.append(Path(tmp) / f"chip{k:03d}.nc")
            write_chip(make_granule(k, a.side, wl), paths[-1])
        sub = samples[samples["time_utc"] <= T0 + pd.Timedelta(days=DAYS_PER_GRANULE * k_files)]
        t0 = time.perf_counter()
        res = match_samples(sub, paths, cfg)
        t_all = time.perf_counter() - t0
    print(
        f"  match_samples on the first {k_files} granules as chip files ({len(sub)} samples): "
        f"{t_all:.2f} s ({len(res.matchups)} matched), reading the chips included"
    )
    result("matchup_vs_brute_force", t_brute / t_ours, 50.0)


if __name__ == "__main__":
    main()
