"""Benchmark: 10^4 in-situ samples matched against 10^5 chip pixels (10 chips of 100 x 100).

Run: ``python bench/bench_matchup.py [--samples N] [--chips K] [--side S]``. Chips follow the chip
contract (172 PACE OCI wavelengths, float32 Rrs, ~10 % flagged pixels, 1.2 km swath-like grid,
one every 4 days); samples are spread over the chip footprint and over the 40 days. Prints the
time to generate the chips and the time of ``match_samples`` alone.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from spectm.config import read_config
from spectm.matchup import match_samples
from spectm.spectral.bands import pace_oci_rrs_wavelengths

LAT0, LON0 = 41.3, -83.5
STEP_LAT, STEP_LON = 0.0108, 0.0145  # ~1.2 km at 41.5 N
T0 = pd.Timestamp("2024-07-01T18:00:00Z")


def make_chip(path: Path, k: int, side: int, wl: np.ndarray, rng: np.random.Generator) -> None:
    j, i = np.meshgrid(np.arange(side), np.arange(side))
    lat = LAT0 + STEP_LAT * i + 0.0005 * j
    lon = LON0 + STEP_LON * j - 0.0005 * i
    base = (0.004 + 0.002 * np.sin(wl / 60.0)).astype(np.float32)
    rrs = base * (1 + 0.03 * rng.standard_normal((side, side, wl.size), dtype=np.float32))
    cloud = np.hypot(i - rng.uniform(0, side), j - rng.uniform(0, side)) < side * 0.18
    rrs[cloud] = np.nan
    start = T0 + pd.Timedelta(days=4 * k)
    ds = xr.Dataset(
        {
            "Rrs": (("y", "x", "wavelength"), rrs),
            "l2_flags": (("y", "x"), np.where(cloud, 1 << 9, 0).astype(np.int32)),
        },
        coords={"wavelength": wl, "lat": (("y", "x"), lat), "lon": (("y", "x"), lon)},
        attrs={
            "granule": f"PACE_OCI.{start.strftime('%Y%m%dT%H%M%S')}.L2.OC_AOP.V3_0.nc",
            "processing_version": "3.0",
            "time_coverage_start": start.isoformat(),
            "time_coverage_end": (start + pd.Timedelta(minutes=5)).isoformat(),
            "sensor": "OCI",
        },
    )
    ds.to_netcdf(path, engine="h5netcdf")


def make_samples(n: int, side: int, days: float, rng: np.random.Generator) -> pd.DataFrame:
    lat = LAT0 + rng.uniform(0, STEP_LAT * side, n)
    lon = LON0 + rng.uniform(0, STEP_LON * side, n)
    return pd.DataFrame(
        {
            "sample_id": [f"s{k:06d}" for k in range(n)],
            "site": rng.choice(["WE2", "WE4", "WE8", "WE12"], n),
            "time_utc": T0 + pd.to_timedelta(rng.uniform(0, days, n), unit="D"),
            "lat": lat,
            "lon": lon,
            "depth_category": rng.choice(["Surface", "Surface", "Surface", "Bottom"], n),
            "position_flag": rng.uniform(size=n) < 0.01,
            "station_lat": lat,
            "station_lon": lon,
        }
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--samples", type=int, default=10_000)
    ap.add_argument("--chips", type=int, default=10)
    ap.add_argument("--side", type=int, default=100)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    wl = pace_oci_rrs_wavelengths()
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        paths = []
        for k in range(args.chips):
            paths.append(Path(tmp) / f"chip{k:03d}.nc")
            make_chip(paths[-1], k, args.side, wl, rng)
        samples = make_samples(args.samples, args.side, 4.0 * args.chips, rng)
        t_gen = time.perf_counter() - t
        t, c = time.perf_counter(), time.process_time()
        res = match_samples(samples, paths, read_config().matchup)
        t_match, c_match = time.perf_counter() - t, time.process_time() - c
    n_pix = args.chips * args.side**2
    print(f"generated {args.chips} chips ({n_pix} pixels x {wl.size} bands) in {t_gen:.2f} s")
    print(
        f"match_samples: {args.samples} samples x {n_pix} pixels in {t_match:.2f} s wall, "
        f"{c_match:.2f} s CPU "
        f"({len(res.candidates)} candidates, {len(res.matchups)} matched)"
    )
    print(res.exclusions["reason"].value_counts().to_string())


if __name__ == "__main__":
    main()
