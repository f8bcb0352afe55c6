"""Every benchmark under bench/ runs at its tiny size (``--smoke``) and ends with RESULT lines.

Untimed: CI checks that the scripts work (their imports, generated inputs, the equality checks
between the two sides of each ratio), not how fast; `make bench` measures (bench/README.md).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
RESULT = re.compile(r"^RESULT \S+ ratio=\S+ goal=\S+ \((met|missed)\)$")


@pytest.mark.parametrize(
    "script",
    ["bench_resample.py", "bench_chip.py", "bench_matchup.py", "bench_pretrain_vs_plain.py",
     "bench_workflow.py"],
)  # fmt: skip
def test_benchmark_runs_at_its_tiny_size(script, tmp_path):
    args = [sys.executable, str(BENCH / script), "--smoke"]
    if script == "bench_workflow.py":
        args += ["--finished", str(tmp_path)]  # no finished demo: the no-op rerun is skipped
    run = subprocess.run(args, capture_output=True, text=True, timeout=900, check=False)
    assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
    lines = run.stdout.strip().splitlines()
    assert lines[0].startswith("machine: ") and lines[1].startswith("command: python ")
    results = [ln for ln in lines if ln.startswith("RESULT ")]
    assert results and all(RESULT.match(ln) for ln in results), results
    assert lines[-1] == results[-1]  # the RESULT lines close the output
