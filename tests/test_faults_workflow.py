"""Faults of a real workflow run: kill -9 and the documented command, offline Earthdata, logs.

Each test runs Snakemake on the tiny configuration of tests/test_workflow.py in a temporary
directory, the way the Makefile does (`python -m spectm.workdir`, then `snakemake --profile
<the Makefile's profile>`), on a target that needs only the samples and the 4 demo granules'
chips. No test touches the network: an unreachable network is an HTTPS proxy on a closed local
port.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
import xarray as xr
import yaml

from tests.test_workflow import tiny_config

ROOT = Path(__file__).resolve().parents[1]
SNAKEMAKE = str(Path(sys.executable).with_name("snakemake"))
TARGET = "results/matchups/matchups.parquet"  # samples, the search, 4 granules and chips
SECRET = "s3cr3t-Pa55word-xyz"
CREDENTIAL_VARS = (
    "EARTHDATA_USERNAME", "EARTHDATA_PASSWORD", "EARTHDATA_TOKEN", "NETRC",
    "NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy",
    "ALL_PROXY", "all_proxy",
)  # fmt: skip

pytestmark = pytest.mark.workflow


def makefile_profile() -> str:
    """The profile of the Makefile's SNAKE line (the documented command)."""
    text = (ROOT / "Makefile").read_text()
    match = re.search(r"^SNAKE\s*:=.*--profile\s+(\S+)", text, flags=re.MULTILINE)
    assert match, "the Makefile's SNAKE line names no --profile"
    profile = ROOT / match.group(1)
    assert (profile / "config.yaml").is_file(), f"the Makefile's profile {profile} is missing"
    return str(profile)


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CREDENTIAL_VARS}
    return {**env, **extra}


def _snakemake_cmd(work: Path, *args: str) -> list[str]:
    return [
        SNAKEMAKE, "-s", str(ROOT / "Snakefile"), "--profile", makefile_profile(),
        "--cores", "2", "-d", str(work), *args,
    ]  # fmt: skip


def _unlock(work: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "spectm.workdir", "-d", str(work)],
        capture_output=True, text=True, timeout=60, env=_env(),
    )  # fmt: skip


def _documented(work: Path, *args: str, env=None, timeout=600) -> subprocess.CompletedProcess:
    """The Makefile's recipe: remove a stale lock, then the Snakemake command."""
    unlock = _unlock(work)
    assert unlock.returncode == 0, unlock.stderr
    proc = subprocess.run(
        _snakemake_cmd(work, *args),
        capture_output=True, text=True, timeout=timeout, env=env or _env(),
    )  # fmt: skip
    proc.stderr = unlock.stderr + proc.stderr
    return proc


def _work(tmp_path: Path, **pace: object) -> Path:
    cfg = tiny_config()
    cfg["pace"].update(pace)
    work = tmp_path / "work"
    work.mkdir()
    (work / "config.yaml").write_text(yaml.safe_dump(cfg))
    return work


def _temporaries(work: Path) -> list[Path]:
    out = []
    for top in ("results", "resources"):
        out += [p for p in (work / top).rglob(".*") if re.search(r"\.(tmp|[a-z0-9_]{8})$", p.name)]
    return out


def _assert_complete(work: Path) -> None:
    """Every product at its final name reads back whole (nothing half-written)."""
    for path in sorted((work / "results").rglob("*")) + sorted((work / "resources").rglob("*")):
        if path.name.startswith(".") or not path.is_file():
            continue
        if path.suffix == ".nc":
            with xr.open_dataset(path) as ds:
                ds.load()
        elif path.suffix == ".parquet":
            pd.read_parquet(path)
        elif path.suffix == ".csv":
            pd.read_csv(path)


def _wait_for(predicate, proc: subprocess.Popen, timeout: float) -> None:
    t0 = time.monotonic()
    while not predicate():
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            pytest.fail(f"snakemake ended (rc {proc.returncode}) before the kill:\n{out[-3000:]}")
        if time.monotonic() - t0 > timeout:
            os.killpg(proc.pid, signal.SIGKILL)
            pytest.fail("the run did not reach a chip job in time")
        time.sleep(0.2)


def test_kill_9_mid_run_then_the_documented_command_completes(tmp_path):
    work = _work(tmp_path)
    assert _unlock(work).returncode == 0
    proc = subprocess.Popen(
        _snakemake_cmd(work, TARGET),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(),
        start_new_session=True,  # its own process group: kill -9 of the run and its jobs
    )  # fmt: skip
    chip_logs = work / "logs" / "chip"
    _wait_for(lambda: chip_logs.is_dir() and any(chip_logs.iterdir()), proc, timeout=240)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert any((work / ".snakemake" / "locks").glob("*.lock")), "the kill left no lock"
    _assert_complete(work)

    # without the unlock step, Snakemake refuses (the trial's finding)
    plain = subprocess.run(
        _snakemake_cmd(work, TARGET), capture_output=True, text=True, timeout=300, env=_env()
    )
    assert plain.returncode != 0 and "cannot be locked" in plain.stdout + plain.stderr

    t0 = time.monotonic()
    rerun = _documented(work, TARGET)
    elapsed = time.monotonic() - t0
    assert rerun.returncode == 0, rerun.stdout[-3000:] + rerun.stderr[-5000:]
    assert "removed the lock left in" in rerun.stderr
    print(f"rerun after kill -9: {elapsed:.0f} s")
    assert not _temporaries(work)
    _assert_complete(work)
    assert len(list((work / "results/chips/pace").glob("*.nc"))) == 4
    assert not any((work / ".snakemake" / "locks").glob("*.lock"))
    again = subprocess.run(
        _snakemake_cmd(work, TARGET, "-n"), capture_output=True, text=True, timeout=300, env=_env()
    )
    assert "Nothing to be done" in again.stdout + again.stderr


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _offline_env(home: Path, **credentials: str) -> dict[str, str]:
    proxy = f"http://127.0.0.1:{_closed_port()}"
    home.mkdir(exist_ok=True)
    return _env(HTTPS_PROXY=proxy, HTTP_PROXY=proxy, HOME=str(home), **credentials)


def _no_secret_anywhere(work: Path, *texts: str) -> None:
    for text in texts:
        assert SECRET not in text
    for path in work.rglob("*"):
        if path.is_file():
            assert SECRET not in path.read_text(errors="ignore"), path


@pytest.mark.parametrize("credentials", ["token", "none"])
def test_offline_earthdata_fails_in_seconds_before_any_job(tmp_path, credentials):
    work = _work(tmp_path, source="earthdata")
    creds = {"EARTHDATA_TOKEN": SECRET} if credentials == "token" else {}
    t0 = time.monotonic()
    proc = _documented(work, env=_offline_env(tmp_path / "home", **creds), timeout=300)
    elapsed = time.monotonic() - t0
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert elapsed < 60, f"took {elapsed:.0f} s"
    assert "preflight failed" in out and "pace_search" in out
    if credentials == "token":
        assert "cannot reach https://urs.earthdata.nasa.gov/" in out
        assert "cannot reach https://cmr.earthdata.nasa.gov/search/" in out
        assert "pace.source: demo runs offline" in out
    else:
        assert "no Earthdata credentials" in out and "EARTHDATA_TOKEN" in out
    assert not (work / "results").exists()  # no job ran
    _no_secret_anywhere(work, out)


def test_a_failed_job_s_log_holds_the_error(tmp_path):
    """Without the preflight (--no-hooks), the search job fails by itself: first of all jobs
    (priority), within seconds, and its log file holds the error; the password is nowhere."""
    work = _work(tmp_path, source="earthdata")
    env = _offline_env(tmp_path / "home", EARTHDATA_USERNAME="tester", EARTHDATA_PASSWORD=SECRET)
    t0 = time.monotonic()
    proc = _documented(work, "--no-hooks", env=env, timeout=300)
    elapsed = time.monotonic() - t0
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and elapsed < 90, f"rc {proc.returncode}, {elapsed:.0f} s"
    log = (work / "logs" / "pace_search.log").read_text()
    assert "the job failed: PreflightError" in log
    assert "cannot reach https://urs.earthdata.nasa.gov/" in log
    assert "Traceback (most recent call last)" in log
    assert not (work / "results" / "pace" / "manifest.csv").exists()
    _no_secret_anywhere(work, out)


def test_a_corrupt_granule_s_chip_log_holds_the_error(tmp_path):
    """A job that fails on bad input (a truncated granule) leaves the error in its log file."""
    work = _work(tmp_path)
    first = _documented(work, "results/pace/manifest.csv")
    assert first.returncode == 0, first.stderr[-3000:]
    granule = pd.read_csv(work / "results/pace/manifest.csv")["granule"].iloc[0]
    path = work / "resources" / "pace" / granule
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 100)  # an HDF5 signature, then nothing
    stem = granule.removesuffix(".nc")
    proc = _documented(work, f"results/chips/pace/{stem}.nc")
    assert proc.returncode != 0
    log = (work / "logs" / "chip" / f"{stem}.log").read_text()
    assert "the job failed:" in log and granule in log
    assert "Traceback (most recent call last)" in log
    assert not (work / "results" / "chips" / "pace" / f"{stem}.nc").exists()
