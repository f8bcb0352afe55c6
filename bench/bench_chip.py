"""Chip extraction from a full-size PACE OCI L2 AOP granule: the AOI read against load-then-subset.

    python bench/bench_chip.py [--repeat 5] [--smoke]

Writes one replay granule of a real granule's size (1709 lines x 1272 pixels x 172 bands) with
``spectm.sources.pace.replay.write_demo_granule``. Its ``Rrs`` is int16 with scale/offset, chunked
32 x 32 x 172 (lines x pixels x bands), gzip level 4 with shuffle, as the replay writes it. No
real L2 AOP file is at hand here, so this layout is an assumption: a real file's chunking can be
read with ``h5dump -p -H file.nc`` or ``h5py.File(f)["geophysical_data/Rrs"].chunks`` and the
benchmark rerun with it (``--chunks``).

Two ways to get the Lake Erie AOI chip (``aoi_bbox`` of the shipped config), each timed in a
fresh Python process (median of ``--repeat``), whose peak resident memory is recorded:

* ``aoi``: ``spectm.io.pace_l2.read_chip`` (reads navigation, then only the AOI window of ``Rrs``
  and ``l2_flags``);
* ``whole``: what a HyperCoast or xarray user does by default: open the ``geophysical_data`` and
  ``navigation_data`` groups with xarray, load the whole ``Rrs`` and ``l2_flags`` into memory, then
  cut the same window (the chip's values are checked equal to the ``aoi`` ones).

Goals (issue 12): ``aoi`` >= 5x faster; its peak memory <= 2 x the chip + 200 MB, counted as
the growth of resident memory (sampled every millisecond) during the read over the process
before it (the interpreter and libraries, ~300 MB, are the same for both ways). Each process reads
once untimed first (lazy imports, first use), then once timed.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import header, parser, result

WORKER = r"""
import json, os, sys, threading, time
import numpy as np, xarray as xr
from spectm.geo import in_bbox
from spectm.io.pace_l2 import read_chip

PAGE = os.sysconf("SC_PAGE_SIZE") / 2**20

def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE

def whole(path, bbox):
    nav = xr.open_dataset(path, group="navigation_data", engine="h5netcdf").load()
    geo = xr.open_dataset(path, group="geophysical_data", engine="h5netcdf")
    rrs, flags = geo["Rrs"].load(), geo["l2_flags"].load()
    inside = in_bbox(nav["latitude"].values, nav["longitude"].values, bbox)
    rows, cols = np.flatnonzero(inside.any(axis=1)), np.flatnonzero(inside.any(axis=0))
    win = dict(number_of_lines=slice(rows[0], rows[-1] + 1),
               pixels_per_line=slice(cols[0], cols[-1] + 1))
    return rrs.isel(win).values, flags.isel(win).values

path, how, bbox = sys.argv[1], sys.argv[2], tuple(json.loads(sys.argv[3]))
read = (lambda: read_chip(path, bbox=bbox)) if how == "aoi" else (lambda: whole(path, bbox))
read()  # warm-up: lazy imports and first-use costs, paid by both ways alike
peak, done = [rss_mb()], threading.Event()

def sample():
    while not done.is_set():
        peak.append(rss_mb())
        time.sleep(0.001)

before = peak[0]
watcher = threading.Thread(target=sample)
watcher.start()
t0 = time.perf_counter()
chip = read()
dt = time.perf_counter() - t0
done.set()
watcher.join()
values = chip.Rrs.values if how == "aoi" else chip[0]
print(json.dumps({"seconds": dt, "growth_mb": max(peak) - before, "rss_mb": max(peak),
                  "chip_mb": values.nbytes / 2**20, "chip_shape": values.shape}))
"""


def run_worker(path: Path, how: str, bbox: list[float]) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", WORKER, str(path), how, json.dumps(bbox)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--lines", type=int, default=1709)
    p.add_argument("--pixels", type=int, default=1272)
    a = p.parse_args()
    if a.smoke:
        a.lines, a.pixels, a.repeat = 160, 140, 1
    header()
    from spectm.config import read_config
    from spectm.sources.pace.replay import demo_granules, write_demo_granule

    bbox = list(read_config().aoi_bbox)
    granule = str(demo_granules()["granule"].iloc[0])
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        path = write_demo_granule(
            granule, Path(tmp), shape=(a.lines, a.pixels), pixel_km=1.2, seed=0,
            cloud_fraction=0.15,
        )  # fmt: skip
        size_mb = path.stat().st_size / 2**20
        print(f"granule {a.lines} x {a.pixels} x 172, {size_mb:.0f} MB on disk, written in "
              f"{time.perf_counter() - t0:.0f} s; AOI bbox {bbox}")  # fmt: skip
        runs = {how: [run_worker(path, how, bbox) for _ in range(a.repeat)]
                for how in ("aoi", "whole")}  # fmt: skip
    med = {how: statistics.median(r["seconds"] for r in rs) for how, rs in runs.items()}
    for how, rs in runs.items():
        r = rs[0]
        print(f"  {how:5s}: {med[how]:.3f} s (median of {len(rs)}), resident memory "
              f"{max(x['rss_mb'] for x in rs):.0f} MB at its peak, growth during the read "
              f"{max(x['growth_mb'] for x in rs):.0f} MB; chip {tuple(r['chip_shape'])} = "
              f"{r['chip_mb']:.1f} MB")  # fmt: skip
    if runs["aoi"][0]["chip_shape"] != runs["whole"][0]["chip_shape"]:
        raise SystemExit("the two ways cut different windows")
    aoi = runs["aoi"]
    growth = max(x["growth_mb"] for x in aoi)
    limit = 2 * aoi[0]["chip_mb"] + 200
    print(f"  aoi memory growth {growth:.0f} MB against the limit 2 x chip + 200 = {limit:.0f} MB")
    result("chip_aoi_vs_whole_speed", med["whole"] / med["aoi"], 5.0)
    result("chip_aoi_memory_headroom", limit / max(growth, 1e-9), 1.0)


if __name__ == "__main__":
    main()
