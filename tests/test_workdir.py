"""spectm.workdir: a lock left by a killed run is removed, a running Snakemake's never."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from spectm import workdir
from spectm.workdir import LOCK_DIR, unlock_stale


def _killed_run(work: Path) -> dict[str, Path]:
    """What `kill -9` of a run leaves: lock files, temporary files and folders, products."""
    (work / LOCK_DIR).mkdir(parents=True)
    paths = {
        "lock_in": work / LOCK_DIR / "0.input.lock",
        "lock_out": work / LOCK_DIR / "0.output.lock",
        "product": work / "results/chips/pace/a.nc",
        "temp": work / "results/chips/pace/.a.nc.k2j_x9qz.tmp",
        "temp_dir": work / "resources/enmap/.ENMAP01-X.ab3_9xyz",
        "local_tmp": work / "resources/enmap/.ENMAP01-Y.tmp",
        "hidden_kept": work / "results/.keep",
        "elsewhere": work / "src/.a.py.k2j_x9qz.tmp",
    }
    for key, path in paths.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if key.endswith("_dir") or key == "local_tmp":
            path.mkdir()
            (path / "part.TIF").write_bytes(b"II*\x00")
        else:
            path.write_text(key)
    return paths


def test_no_lock_does_nothing(tmp_path):
    (tmp_path / "results").mkdir()
    temp = tmp_path / "results" / ".x.csv.abcdefgh.tmp"
    temp.write_text("a writer may be running")
    outcome = unlock_stale(tmp_path)
    assert not outcome.locks and not outcome.unlocked and temp.exists()


def test_stale_lock_and_temporary_files_are_removed(tmp_path, capsys):
    paths = _killed_run(tmp_path)
    assert workdir.main(["-d", str(tmp_path)]) == 0
    for key in ("lock_in", "lock_out", "temp", "temp_dir", "local_tmp"):
        assert not paths[key].exists(), key
    for key in ("product", "hidden_kept", "elsewhere"):
        assert paths[key].exists(), key
    err = capsys.readouterr().err
    assert "removed the lock" in err and "3 temporary file(s)" in err


def _fake_snakemake(tmp_path: Path, cwd: Path, *args: str) -> subprocess.Popen:
    exe = tmp_path / "bin" / "snakemake"
    exe.parent.mkdir(exist_ok=True)
    exe.write_text("#!/bin/sh\nsleep 60\n")
    exe.chmod(0o755)
    return subprocess.Popen(["/bin/sh", str(exe), *args], cwd=cwd)


@pytest.mark.skipif(not Path("/bin/sh").exists(), reason="needs /bin/sh")
@pytest.mark.parametrize("how", ["cwd", "directory-option"])
def test_lock_of_a_running_snakemake_is_left_alone(tmp_path, capsys, how):
    work = tmp_path / "work"
    work.mkdir()
    paths = _killed_run(work)
    if how == "cwd":
        proc = _fake_snakemake(tmp_path, work, "--cores", "2")
    else:
        proc = _fake_snakemake(tmp_path, tmp_path, "--cores", "2", "-d", "work")
    try:
        outcome = unlock_stale(work)
        assert outcome.running and outcome.running[0][0] == proc.pid
        assert not outcome.unlocked and not outcome.removed
        assert paths["lock_in"].exists() and paths["temp"].exists()
        assert workdir.main(["-d", str(work)]) == 0
        assert f"Snakemake process {proc.pid}:" in capsys.readouterr().err
    finally:
        proc.kill()
        proc.wait()
    # once it has ended, the lock is stale
    assert unlock_stale(work).unlocked and not paths["lock_in"].exists()


def test_snakemake_in_another_directory_does_not_count(tmp_path):
    work = tmp_path / "work"
    other = tmp_path / "other"
    work.mkdir()
    other.mkdir()
    _killed_run(work)
    proc = _fake_snakemake(tmp_path, other)
    try:
        assert unlock_stale(work).unlocked
    finally:
        proc.kill()
        proc.wait()


@pytest.mark.parametrize(
    ("cmdline", "expected"),
    [
        (["/x/.venv/bin/python", "/x/.venv/bin/snakemake", "--cores", "2"], True),
        (["snakemake", "-n"], True),
        (["python3", "-m", "snakemake", "--unlock"], True),
        (["python3", "-m", "pytest", "tests/test_snakemake.py"], False),
        (["python", ".snakemake/scripts/tmpab.chip.py"], False),
        (["vim", "Snakefile"], False),
    ],
)
def test_what_counts_as_snakemake(cmdline, expected):
    assert workdir._is_snakemake(cmdline) is expected


def test_module_entry_point(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "spectm.workdir", "-v", "-d", str(tmp_path)],
        capture_output=True, text=True, timeout=60, env={**os.environ},
    )  # fmt: skip
    assert proc.returncode == 0 and "no Snakemake lock" in proc.stderr


def _recipe(makefile: str, target: str) -> list[str]:
    lines = makefile.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"{target}:"))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def test_the_makefile_runs_the_unlock_step_before_snakemake():
    """`make demo` / `adapt` (and `refresh`) are the documented commands: each removes a stale
    lock before Snakemake runs; `make unlock` does only that."""
    makefile = (Path(__file__).resolve().parents[1] / "Makefile").read_text()
    assert "UNLOCK := $(BIN)/python -m spectm.workdir" in makefile
    targets = ["demo", "adapt"] + (["refresh"] if "\nrefresh:" in makefile else [])
    for target in targets:
        recipe = _recipe(makefile, target)
        snake = next(i for i, line in enumerate(recipe) if line.startswith("$(SNAKE)"))
        assert "$(UNLOCK)" in recipe[:snake], target
    assert _recipe(makefile, "unlock") == ["$(UNLOCK) --verbose"]


def test_another_user_s_lock_is_left_alone(tmp_path, monkeypatch, capsys):
    paths = _killed_run(tmp_path)
    owner = paths["lock_in"].stat().st_uid
    monkeypatch.setattr(workdir.os, "getuid", lambda: owner + 1)
    assert workdir.main(["-d", str(tmp_path)]) == 0
    assert paths["lock_in"].exists() and paths["temp"].exists()
    assert f"a run of user id {owner}" in capsys.readouterr().err
