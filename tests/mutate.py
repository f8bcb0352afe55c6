"""``make mutate``: mutation testing (mutmut) of the core modules, each against its own tests.

Not a test module (pytest does not collect it) and not part of ``make test``: run it by hand or
with ``make mutate``. For every module of :data:`MODULES` it copies ``src/``, ``tests/`` and
``pyproject.toml`` (with a ``[tool.mutmut]`` section for that module appended) into
``<out>/<module>/``, runs ``mutmut run`` there and collects the score and the surviving mutants.
The working tree is never modified, so the run can go on while you edit. See docs/testing.md.

Usage::

    python -m tests.mutate [--out results/mutation] [--max-children N] [--only [GLOB ...]]
                           [MODULE ...]

MODULE is a key of :data:`MODULES` (e.g. ``matchup``); default: all of them. ``--only`` tests only
the mutants whose names match (default: :data:`SUBSETS` for the modules listed there, else all;
``--only`` with no glob: all). Writes ``<out>/summary.csv``, ``<out>/summary.md`` and
``<out>/<module>/survivors.md`` (the diff of every mutant that was tested and not killed).
"""

from __future__ import annotations

import argparse
import csv
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MUTMUT = Path(sys.executable).with_name("mutmut")

MODULES: dict[str, tuple[str, tuple[str, ...]]] = {
    "matchup": ("src/spectm/matchup.py", ("tests/test_matchup.py",)),
    "pairs": ("src/spectm/pairs.py", ("tests/test_pairs.py",)),
    "resample": (
        "src/spectm/spectral/resample.py",
        ("tests/spectral/test_srf_resample.py", "tests/spectral/test_resample_contract.py"),
    ),
    "masking": (
        "src/spectm/model/masking.py",
        ("tests/model/test_encoder.py", "tests/test_mutation_kills.py"),
    ),
    "splits": (
        "src/spectm/evaluate/splits.py",
        ("tests/evaluate/test_splits.py", "tests/test_mutation_kills.py"),
    ),
    "conformal": (
        "src/spectm/evaluate/conformal.py",
        (
            "tests/evaluate/test_splits.py",
            "tests/evaluate/test_conformal*.py",
            "tests/test_mutation_kills.py",
        ),
    ),
    "glerl_cells": (
        "src/spectm/sources/glerl/cells.py",
        (
            "tests/sources/test_glerl.py",
            "tests/sources/test_glerl_cells.py",
            "tests/test_mutation_kills.py",
        ),
    ),
    "pretrain": (
        "src/spectm/train/pretrain.py",
        (
            "tests/train/test_pretrain.py",
            "tests/train/test_pretrain_learns.py",
            "tests/train/test_pretrain_checks.py",
        ),
    ),
}
"""Module key -> (the file mutated, its own test files; glob patterns, relative to the root)."""

SUBSETS: dict[str, tuple[str, ...]] = {
    "pretrain": tuple(
        f"spectm.train.pretrain.x_{name}__mutmut_*"
        for name in (
            "_train_step",
            "_losses",
            "_evaluate",
            "_batch_mask",
            "_robust_scale",
            "_resume_mismatch",
        )
    ),
}
"""Module key -> the mutants tested by default (mutant-name globs). Every mutant of pretrain.py
runs training tests of 5-60 s; these functions (one step, validation, masks, target scaling,
resume checks) are the ones that decide whether training learns and resumes; ``--only`` alone
tests them all. :func:`subset_functions_exist` checks that every name still is a function of the
module (mutmut would silently test nothing for a renamed one)."""


def subset_functions_exist(key: str) -> None:
    """Raise when a :data:`SUBSETS` glob of ``key`` names no top-level function of its module.

    Raises:
        ValueError: naming the module and the missing function.
    """
    module = MODULES[key][0]
    source = (ROOT / module).read_text()
    for pattern in SUBSETS.get(key, ()):
        name = re.fullmatch(r"[\w.]+\.x_(\w+?)__mutmut_\*", pattern)
        if name is None or not re.search(rf"^def {name.group(1)}\(", source, re.M):
            raise ValueError(f"SUBSETS[{key!r}]: {pattern!r} names no function of {module}")


_IGNORE = shutil.ignore_patterns("__pycache__", "*.egg-info", ".pytest_cache", "*.pyc")
_RESULT_RE = re.compile(r"^\s+(\S+): (\S.*)$")


def own_tests(patterns: tuple[str, ...]) -> list[str]:
    """The test files matching ``patterns`` (relative to the root), sorted and de-duplicated.

    Raises:
        FileNotFoundError: naming the patterns when none matches a file.
    """
    found = sorted(
        {str(Path(p).relative_to(ROOT)) for pat in patterns for p in glob.glob(str(ROOT / pat))}
    )
    if not found:
        raise FileNotFoundError(f"no test file matches {list(patterns)} under {ROOT}")
    return found


def mutmut_section(module: str, tests: list[str]) -> str:
    """The ``[tool.mutmut]`` TOML section that mutates ``module`` against ``tests`` only."""
    return (
        "\n\n[tool.mutmut]\n"
        'source_paths = ["src"]\n'
        f"only_mutate = {json.dumps([module])}\n"
        f"pytest_add_cli_args_test_selection = {json.dumps(tests)}\n"
        'pytest_add_cli_args = ["-p", "no:cacheprovider", "-q"]\n'
        # fork from a server that imported the tests but ran none: torch is not fork-safe once
        # its OpenMP pool runs (the forked workers hang until mutmut's timeout)
        'process_isolation = "forkserver"\n'
    )


def _mutmut(args: list[str], work: Path, log: Path | None = None) -> subprocess.CompletedProcess:
    # one thread per worker: mutmut runs --max-children workers side by side
    threads = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    env = {**os.environ, **threads, "PYTHONDONTWRITEBYTECODE": "1"}
    out = subprocess.run(
        [str(MUTMUT), *args], cwd=work, env=env, capture_output=True, text=True, check=False
    )
    if log is not None:
        log.write_text(out.stdout + out.stderr)
    return out


_DIFFS = """
import sys
from mutmut.mutation.diff_apply import find_mutant, get_diff_for_mutant
for name in sys.argv[1:]:
    print("\\x00" + get_diff_for_mutant(name, path=find_mutant(name).path).strip())
"""
"""Prints the diff of each mutant named on the command line, each after a NUL (one process:
``mutmut show`` per mutant costs seconds each)."""


def _diffs(names: list[str], work: Path) -> list[str]:
    """The diff of each mutant in ``names`` (run in the module's work directory)."""
    if not names:
        return []
    out = subprocess.run(
        [sys.executable, "-c", _DIFFS, *names],
        cwd=work, capture_output=True, text=True, check=True,
    )  # fmt: skip
    diffs = out.stdout.split("\x00")[1:]
    if len(diffs) != len(names):
        raise RuntimeError(f"expected {len(names)} mutant diffs in {work}, got {len(diffs)}")
    return [d.strip() for d in diffs]


def run_module(
    key: str, out: Path, max_children: int, only: tuple[str, ...] | None = None
) -> dict[str, object]:
    """Mutate one module of :data:`MODULES` in ``out/key`` and return its summary row.

    Args:
        key: A key of :data:`MODULES`.
        out: Parent of the module's work directory.
        max_children: Mutants tested side by side.
        only: Mutant-name globs to test (``mutmut run`` arguments, e.g.
            ``spectm.train.pretrain.x__train_step*``); default: the module's :data:`SUBSETS`
            entry, else every mutant. ``()``: every mutant.

    Returns:
        The counts of each outcome, the score (killed or timed out / tested, in %), the wall
        time and the subset tested.
    """
    module, patterns = MODULES[key]
    subset_functions_exist(key)
    globs = SUBSETS.get(key, ()) if only is None else only
    tests = own_tests(patterns)
    work = out / key
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    shutil.copytree(ROOT / "src", work / "src", ignore=_IGNORE)
    shutil.copytree(ROOT / "tests", work / "tests", ignore=_IGNORE)
    pyproject = (ROOT / "pyproject.toml").read_text()
    (work / "pyproject.toml").write_text(pyproject + mutmut_section(module, tests))

    start = time.monotonic()
    args = ["run", "--max-children", str(max_children), *globs]
    run = _mutmut(args, work, work / "mutmut-run.log")
    wall = time.monotonic() - start
    if run.returncode != 0:
        raise RuntimeError(f"mutmut run failed for {module} (exit {run.returncode}): see {work}")

    listed = _mutmut(["results", "--all", "true"], work).stdout.splitlines()
    status = dict(m.groups() for m in map(_RESULT_RE.match, listed) if m)
    if not status:
        raise RuntimeError(f"mutmut listed no mutant of {module}: see {work}/mutmut-run.log")
    counts = Counter(status.values())
    left = [n for n, st in status.items() if st not in ("killed", "timeout", "not checked")]
    lines = [f"# Mutants of {module} not killed by {', '.join(tests)}\n"]
    for name, diff in zip(left, _diffs(left, work), strict=True):
        lines += [f"## {name} ({status[name]})\n", "```diff", diff, "```\n"]
    (work / "survivors.md").write_text("\n".join(lines) + "\n")

    checked = len(status) - counts["not checked"] - counts["skipped"]
    caught = counts["killed"] + counts["timeout"] + counts["caught by type check"]
    return {
        "module": module,
        "tests": " ".join(tests),
        "subset": " ".join(globs) or "all",
        "mutants": len(status),
        "tested": checked,
        "killed": counts["killed"],
        "timeout": counts["timeout"],
        "survived": counts["survived"],
        "no_tests": counts["no tests"],
        "other": checked - caught - counts["survived"] - counts["no tests"],
        "score_pct": round(100.0 * caught / checked, 1) if checked else float("nan"),
        "wall_s": round(wall, 1),
    }


def write_summary(rows: list[dict[str, object]], out: Path) -> None:
    """Write ``summary.csv`` and the Markdown table ``summary.md`` of the rows."""
    cols = list(rows[0])
    with (out / "summary.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)
    md = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    md += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    (out / "summary.md").write_text("\n".join(md) + "\n")


def main(argv: list[str] | None = None) -> int:
    """Run mutmut over the chosen modules; print and write the summary."""
    p = argparse.ArgumentParser(prog="python -m tests.mutate", description=__doc__.splitlines()[0])
    p.add_argument("modules", nargs="*", choices=[[], *MODULES], metavar="MODULE")
    p.add_argument("--out", type=Path, default=ROOT / "results" / "mutation")
    p.add_argument("--max-children", type=int, default=os.cpu_count() or 1)
    p.add_argument(
        "--only",
        nargs="*",
        default=None,
        metavar="GLOB",
        help="mutant-name globs to test (default: SUBSETS, else all; --only with none: all)",
    )
    a = p.parse_args(argv)
    if not MUTMUT.exists():
        print(f"{MUTMUT} not found: install the dev tools (make install)", file=sys.stderr)
        return 2
    a.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for key in a.modules or list(MODULES):
        print(f"mutating {MODULES[key][0]} ...", flush=True)
        only = None if a.only is None else tuple(g for g in a.only if g)
        rows.append(run_module(key, a.out, a.max_children, only))
        print(f"  {rows[-1]}", flush=True)
        write_summary(rows, a.out)
    print((a.out / "summary.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
