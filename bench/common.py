"""What every benchmark under ``bench/`` shares: repeated timing, peak memory, the RESULT line.

Each script times both sides of every ratio in the same process, one after the other, and reports
the median of ``--repeat`` runs (``--smoke``: a tiny size, one run, for CI: it checks that the
script works, not how fast). The last line a script prints is ``RESULT <name> ratio=<x>
goal=<y>`` (one per ratio), which ``bench/README.md`` records.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np


def parser(description: str) -> argparse.ArgumentParser:
    """An argument parser with the options every benchmark takes (``--repeat``, ``--smoke``)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--repeat", type=int, default=5, help="timed runs per side (median reported)")
    p.add_argument("--smoke", action="store_true", help="tiny size, one run: CI's check")
    return p


def median_seconds(fn: Callable[[], Any], repeat: int, warmup: int = 1) -> float:
    """Median wall time of ``repeat`` calls of ``fn`` after ``warmup`` untimed calls (s)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(max(repeat, 1)):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def machine() -> str:
    """One line naming the machine, Python, NumPy and the date (for bench/README.md)."""
    cpus = os.cpu_count()
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next(ln.split(":", 1)[1].strip() for ln in f if ln.startswith("model name"))
    except (OSError, StopIteration):
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"machine: {model}, {cpus} CPUs, {mem:.0f} GiB; Python {platform.python_version()}, "
        f"NumPy {np.__version__}; {datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )


def result(name: str, ratio: float, goal: float) -> str:
    """The ``RESULT`` line of one ratio (printed and returned); ``met`` when ratio >= goal."""
    verdict = "met" if ratio >= goal else "missed"
    line = f"RESULT {name} ratio={ratio:.3g} goal={goal:g} ({verdict})"
    print(line, flush=True)
    return line


def header(argv: list[str] | None = None) -> None:
    """Print the machine line and the command line."""
    print(machine())
    print("command: python " + " ".join(sys.argv if argv is None else argv), flush=True)
