"""Workflow overhead: interpreter start, no-op rerun, a dry run of 1,000 granules, job start-up.

    python bench/bench_workflow.py [--granules 1000] [--repeat 3] [--finished DIR] [--smoke]

* ``python -c pass``: the interpreter start every number below is compared with.
* no-op rerun: ``snakemake --profile profiles/local --configfile config/without-enmap.yaml`` in
  ``--finished`` (default: this checkout), when it holds a finished ``make demo``
  (``results/report/index.html``), with that checkout's own ``.venv`` when it has one (another
  installation of spectm has other paths for the bundled GLERL files, which are inputs, and
  Snakemake would rerun from the samples on); Snakemake finds nothing to do. Goal: <= 3 s beyond the
  interpreter start. Skipped, with a line saying so, when there is no finished run.
* dry run of ``--granules`` granules: a scratch working directory whose ``pace_search``
  checkpoint output (the manifest) lists that many granules (the demo manifest's rows, repeated
  with shifted overpass times), ``snakemake -n`` of the whole workflow without EnMAP: the DAG of
  ``--granules`` granule and chip jobs and everything downstream. Goal: <= 15 s.
* job start-up: the imports of the ``pace_granule`` and ``chip`` job scripts in a fresh
  interpreter (what each job pays before its work), beyond ``python -c pass``.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from common import header, parser, result

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SNAKEMAKE = str(BIN / "snakemake")
WITHOUT_ENMAP = str(ROOT / "config" / "without-enmap.yaml")
JOB_IMPORTS = {
    "pace_granule": "import spectm.logs, spectm.sources.pace, spectm.sources.pace.replay",
    "chip": "import spectm.io.chips, spectm.io.pace_l2, spectm.logs, spectm.report.quicklook",
}
"""What each job script imports before its work (workflow/scripts/{pace_granule,chip}.py)."""


def seconds(cmd: list[str], repeat: int, cwd: Path = ROOT) -> tuple[float, str]:
    """Median wall time of ``cmd`` (s) and its last output."""
    times, out = [], ""
    for _ in range(repeat):
        t0 = time.perf_counter()
        run = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - t0)
        out = run.stdout + run.stderr
        if run.returncode != 0:
            raise SystemExit(f"{' '.join(cmd)} failed ({run.returncode}):\n{out[-3000:]}")
    return statistics.median(times), out


def manifest(n: int) -> pd.DataFrame:
    from spectm.sources.pace import demo_manifest

    base = demo_manifest().reset_index(drop=True)
    rows = []
    for k in range(n):
        row = base.iloc[k % len(base)].copy()
        shift = pd.Timedelta(days=7 * (k // len(base)), seconds=k)
        old = str(row["granule"])
        stamp = pd.Timestamp(old.split(".")[1]) + shift
        new = old.replace(old.split(".")[1], stamp.strftime("%Y%m%dT%H%M%S"))
        row["granule"], row["url"] = new, str(row["url"]).replace(old, new)
        rows.append(row)
    return pd.DataFrame(rows)


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--granules", type=int, default=1000)
    p.add_argument("--finished", type=Path, default=ROOT)
    a = p.parse_args()
    if a.smoke:
        a.granules, a.repeat = 20, 1
    header()
    t_py, _ = seconds([sys.executable, "-c", "pass"], max(a.repeat, 3))
    print(f"python -c pass: {t_py:.3f} s")
    lines = []

    finished = (a.finished / "results" / "report" / "index.html").exists()
    if finished:
        # the run's own environment: the bundled GLERL files are inputs by their installed path
        own = a.finished / ".venv" / "bin" / "snakemake"
        snakemake = str(own) if own.exists() else SNAKEMAKE
        cmd = [snakemake, "--profile", "profiles/local", "--configfile", WITHOUT_ENMAP]
        _, plan = seconds([*cmd, "-n"], 1, cwd=a.finished)  # never start real work here
        finished = "Nothing to be done" in plan
    if finished:
        t_noop, out = seconds(cmd, a.repeat, cwd=a.finished)
        print(f"no-op rerun of the finished demo in {a.finished}: {t_noop:.2f} s "
              f"({t_noop - t_py:.2f} s beyond the interpreter start)")  # fmt: skip
        lines.append(("workflow_noop_rerun_3s_over_measured", 3.0 / (t_noop - t_py), 1.0))
    else:
        print(f"no-op rerun: skipped, no finished demo in {a.finished} (run `make demo` first)")

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        (work / "results" / "pace").mkdir(parents=True)
        shutil.copy(ROOT / "config.yaml", work / "config.yaml")  # the shipped configuration
        manifest(a.granules).to_csv(work / "results" / "pace" / "manifest.csv", index=False)
        cmd = [SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "-d", str(work), "--configfile",
               WITHOUT_ENMAP, "-n", "--cores", "2"]  # fmt: skip
        t_dry, out = seconds(cmd, a.repeat)
    jobs = {}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit() and parts[0] in ("pace_granule", "chip", "total"):
            jobs[parts[0]] = int(parts[1])
    if jobs.get("pace_granule") != a.granules or jobs.get("chip") != a.granules:
        raise SystemExit(f"the dry run did not plan {a.granules} granules and chips: {jobs}")
    print(f"dry run of {a.granules} granules: {t_dry:.2f} s for {jobs['total']} jobs")
    lines.append((f"workflow_dry_run_{a.granules}_granules_15s_over_measured", 15.0 / t_dry, 1.0))

    for rule, imports in JOB_IMPORTS.items():
        t_imp, _ = seconds([sys.executable, "-c", imports], max(a.repeat, 3))
        print(f"job start-up of {rule}: {t_imp:.2f} s ({t_imp - t_py:.2f} s of imports)")
    print()
    for line in lines:
        result(*line)


if __name__ == "__main__":
    main()
