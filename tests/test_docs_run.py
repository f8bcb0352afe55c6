"""Every command of the README and docs/usage.md runs as written in a finished run.

The fenced ``bash`` blocks of both files are split into commands (comments dropped, ``\\``
continuations joined). Each command is either run, in document order, in a copy of the finished
tiny workflow run (the repository's ``src``, ``Snakefile``, ``workflow``, ``profiles``,
``config`` and ``envs`` linked beside it, the environment's ``bin`` first on ``PATH``), or named
in :data:`SKIPPED` with the reason. A command in neither list fails the test, and so does a
listed command the docs no longer contain, so a new doc command cannot go unnoticed.

The only substitution is the executable prefix ``.venv/bin/``, replaced by the directory of the
Python running the tests. The commands therefore name files that both ``make demo`` and the tiny
run leave (a granule of 2024-08-04, inside the tiny period; the matchup spectra); the EnMAP
commands need ``make adapt``'s products, which the tiny run (EnMAP branch on) also has.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DOCS = ("README.md", "docs/usage.md")
LINKED = ("src", "Snakefile", "workflow", "profiles", "config", "envs")

NOTHING_TO_DO = "Nothing to be done"

RUN: dict[str, tuple[str, ...]] = {
    # README.md
    "spectm predict --checkpoint results/models/microcystin_current_week.pt "
    "--spectra results/matchups/matchups.parquet --out predictions.csv": ("predictions.csv",),
    "spectm samples src/spectm/data/glerl/*[0-9]*.csv --out samples.parquet": ("samples.parquet",),
    "spectm chip resources/pace/PACE_OCI.20240804T175305.L2.OC_AOP.V3_0.nc --out chip.nc": (
        "chip.nc",
    ),
    # docs/usage.md: targets of a finished run (nothing to do), the report, the refresh, EnMAP
    "snakemake --profile profiles/local --cores 8": (),
    "snakemake --profile profiles/local --cores 8 results/metrics/summary.csv": (),
    "snakemake --profile profiles/local --cores 8 results/matchups/matchups.parquet": (),
    "snakemake --profile profiles/local --report results/report.zip": ("results/report.zip",),
    "snakemake --profile profiles/local results/pace/manifest.csv results/enmap/manifest.csv "
    "--forcerun pace_search enmap_search": ("results/pace/manifest.csv",),
    "snakemake --profile profiles/local": (),
    "spectm enmap-chip resources/enmap/ENMAP01-____L2A-DT0000000001_* --out-dir chips/ "
    "--size 128": ("chips",),
    ".venv/bin/snakemake --profile profiles/local --cores 2 results/adapt/summary.csv": (),
}
"""Commands run, each with the files it must leave (relative to the run directory)."""

UP_TO_DATE = (
    "snakemake --profile profiles/local --cores 8",
    "snakemake --profile profiles/local --cores 8 results/metrics/summary.csv",
    "snakemake --profile profiles/local --cores 8 results/matchups/matchups.parquet",
    ".venv/bin/snakemake --profile profiles/local --cores 2 results/adapt/summary.csv",
)
"""Targets a finished run already has: they must plan nothing (else the test would train)."""

SKIPPED: dict[str, str] = {
    "make demo": "the whole demo (about 30 min); the tiny run of this test stands in for it",
    "make test": "the test suite itself, this test included",
    "export EARTHDATA_USERNAME=... EARTHDATA_PASSWORD=...": "placeholders for real credentials",
    ".venv/bin/snakemake --profile profiles/local --cores 8 --config pace='{source: earthdata}'": (
        "needs NASA Earthdata network access and credentials (offline, the preflight stops "
        "it: test_faults_workflow.py)"
    ),
    ".venv/bin/snakemake --profile profiles/slurm": "needs a SLURM cluster (make test-slurm)",
    ".venv/bin/snakemake --profile profiles/local --cores 8 --configfile config/paper.yaml": (
        "the paper-scale run (hours); test_workflow.py dry-runs config/paper.yaml"
    ),
    "pip install -e .[slurm]": "installs packages from the network",
    "snakemake --profile profiles/slurm": "needs a SLURM cluster (make test-slurm)",
    "snakemake --profile profiles/slurm --slurm-status-command squeue": (
        "needs a SLURM cluster (make test-slurm)"
    ),
    "make refresh": "runs make demo's whole workflow; its two snakemake commands are run here",
    "make demo && make study": "the demo and the gap study (about 55 min)",
}
"""Commands not run, each with the reason (reviewed: keep it short and true)."""


def _strip_comment(line: str) -> str:
    """``line`` without a shell comment (a ``#`` at the start or after a blank, unquoted)."""
    quote = ""
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = ""
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def doc_commands(text: str) -> list[str]:
    """The commands of the fenced ``bash`` blocks of a Markdown ``text``, in order.

    A line ending in ``\\`` continues on the next; comments and blank lines are dropped; runs of
    blanks inside a command become one.
    """
    commands: list[str] = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, flags=re.M | re.S):
        pending = ""
        for raw in block.splitlines():
            if raw.rstrip().endswith("\\"):
                pending += raw.rstrip()[:-1] + " "
                continue
            line = _strip_comment(pending + raw)
            pending = ""
            if line.strip():
                commands.append(" ".join(line.split()))
    return commands


def test_doc_commands_are_extracted():
    text = "```bash\nmake demo   # a # comment\na \\\n  --b 'x # y'  # c\n# only\n```\n"
    assert doc_commands(text) == ["make demo", "a --b 'x # y'"]


def _all_commands() -> list[str]:
    return [c for doc in DOCS for c in doc_commands((ROOT / doc).read_text())]


def test_every_doc_command_is_run_or_skipped_with_a_reason():
    commands = _all_commands()
    assert len(commands) == len(set(commands)), "a command appears twice: key by context"
    unknown = [c for c in commands if c not in RUN and c not in SKIPPED]
    assert not unknown, f"doc commands neither run nor skipped: {unknown}"
    stale = sorted((set(RUN) | set(SKIPPED)) - set(commands))
    assert not stale, f"listed commands the docs no longer contain: {stale}"
    assert not set(RUN) & set(SKIPPED)
    assert all(reason.strip() for reason in SKIPPED.values())


@pytest.mark.workflow
def test_doc_commands_run_as_written(tiny_run, tmp_path):
    work = tmp_path / "work"
    shutil.copytree(tiny_run, work, symlinks=True, ignore=shutil.ignore_patterns("report.zip"))
    for name in LINKED:
        (work / name).symlink_to(ROOT / name)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    for command in (c for c in _all_commands() if c in RUN):
        line = command.replace(".venv/bin/", f"{BIN}/")
        proc = subprocess.run(
            ["bash", "-c", line], cwd=work, env=env, capture_output=True, text=True, timeout=600
        )
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, f"{command}\n{out[-6000:]}"
        for path in RUN[command]:
            assert (work / path).exists(), f"{command}: {path} not written\n{out[-3000:]}"
        if command in UP_TO_DATE:
            assert NOTHING_TO_DO in out, f"{command} planned jobs in a finished run\n{out[-3000:]}"
