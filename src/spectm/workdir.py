"""The workflow's working directory after a killed run: a stale Snakemake lock, temporary files.

Snakemake locks its working directory (``.snakemake/locks/*.lock``, lists of the files a run
reads and writes) and removes the lock when it ends. A run killed with SIGKILL (``kill -9``, the
out-of-memory killer, a lost node) leaves the lock behind, and the next run stops with
"Directory cannot be locked" until ``--unlock``. :func:`unlock_stale` removes such a lock only
when no Snakemake process runs in the directory (every process is checked: its command line and
its working directory or ``-d``/``--directory``), together with the temporary files that
:func:`spectm._io.atomic_path` and the EnMAP product writers leave when killed mid-write (their
final files were never written). The outputs of the jobs that were running are Snakemake's to
redo: ``--rerun-incomplete`` (set in ``profiles/*``) deletes and reruns them.

``make demo`` / ``make adapt`` / ``make unlock`` run ``python -m spectm.workdir`` before
Snakemake.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import psutil

LOCK_DIR = Path(".snakemake") / "locks"
"""Where Snakemake keeps its locks, relative to the working directory."""
OUTPUT_DIRS: tuple[str, ...] = ("results", "resources", "logs")
"""Folders of the working directory searched for temporary files of a killed run."""

#: atomic_path's ``tempfile.mkstemp(prefix=".<name>.", suffix=".tmp")`` (8 random characters)
_TEMP_FILE = re.compile(r"^\..+\.[a-z0-9_]{8}\.tmp$")
#: the EnMAP writers' ``tempfile.mkdtemp(prefix=".<name>.")`` and ``.<name>.tmp`` folders
_TEMP_DIR = re.compile(r"^\..+\.([a-z0-9_]{8}|tmp)$")


@dataclass
class Outcome:
    """What :func:`unlock_stale` found and did.

    Attributes:
        locks: Lock files found (before removal).
        running: ``(pid, command line)`` of Snakemake processes running in the directory
            (pid -1: lock files owned by another user, whose run it is).
        removed: Temporary files and folders removed.
    """

    locks: list[Path] = field(default_factory=list)
    running: list[tuple[int, str]] = field(default_factory=list)
    removed: list[Path] = field(default_factory=list)

    @property
    def unlocked(self) -> bool:
        """A stale lock was found and removed."""
        return bool(self.locks) and not self.running


def _is_snakemake(cmdline: list[str]) -> bool:
    """A ``snakemake`` executable, ``python -m snakemake`` or ``python .../snakemake``."""
    head = cmdline[:3]
    if any(Path(arg).name == "snakemake" for arg in head):
        return True
    return "-m" in head and "snakemake" in cmdline[: head.index("-m") + 2]


def _directory_arg(cmdline: list[str]) -> str | None:
    """The value of ``-d`` / ``--directory`` in a Snakemake command line, if given."""
    for i, arg in enumerate(cmdline):
        if arg in ("-d", "--directory") and i + 1 < len(cmdline):
            return cmdline[i + 1]
        if arg.startswith("--directory="):
            return arg.split("=", 1)[1]
    return None


def snakemake_processes(workdir: str | os.PathLike[str]) -> list[tuple[int, str]]:
    """``(pid, command line)`` of every Snakemake process whose working directory is ``workdir``.

    Another user's processes, whose working directory cannot be read, are not considered: a
    run of theirs would own the lock files (:func:`unlock_stale` leaves those alone).
    """
    target = Path(workdir).resolve()
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        info = proc.info
        cmdline = info.get("cmdline") or []
        if proc.pid == os.getpid() or info.get("status") == psutil.STATUS_ZOMBIE:
            continue
        if not cmdline or not _is_snakemake(cmdline):
            continue
        try:
            cwd = Path(proc.cwd())
        except psutil.Error:  # ended meanwhile, or another user's (AccessDenied)
            continue
        given = _directory_arg(cmdline)
        where = (cwd / given) if given is not None else cwd
        try:
            if where.resolve() == target:
                found.append((proc.pid, " ".join(cmdline)))
        except OSError:
            found.append((proc.pid, " ".join(cmdline)))
    return found


def leftover_temporaries(workdir: str | os.PathLike[str]) -> list[Path]:
    """Temporary files and folders of interrupted atomic writes under :data:`OUTPUT_DIRS`."""
    out: list[Path] = []
    for name in OUTPUT_DIRS:
        top = Path(workdir) / name
        if not top.is_dir():
            continue
        for root, dirs, files in os.walk(top):
            here = Path(root)
            out += [here / f for f in files if _TEMP_FILE.match(f)]
            stale = [d for d in dirs if _TEMP_DIR.match(d)]
            out += [here / d for d in stale]
            dirs[:] = [d for d in dirs if d not in stale]
    return sorted(out)


def unlock_stale(workdir: str | os.PathLike[str] = ".") -> Outcome:
    """Remove a lock (and temporary files) left by a killed run, never a live run's.

    Args:
        workdir: The workflow's working directory.

    Returns:
        What was found and done: nothing when there is no lock; only ``running`` filled when a
        Snakemake process runs in ``workdir`` (its lock is left alone).
    """
    work = Path(workdir)
    outcome = Outcome(locks=sorted((work / LOCK_DIR).glob("*.lock")))
    if not outcome.locks:
        return outcome
    outcome.running = snakemake_processes(work)
    others = [lock for lock in outcome.locks if lock.stat().st_uid != os.getuid()]
    if others:  # another user's run (or its remains): theirs to unlock
        outcome.running.append((-1, f"a run of user id {others[0].stat().st_uid}"))
    if outcome.running:
        return outcome
    for path in leftover_temporaries(work):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        outcome.removed.append(path)
    for lock in outcome.locks:
        lock.unlink(missing_ok=True)
    return outcome


def main(argv: list[str] | None = None) -> int:
    """``python -m spectm.workdir [-d DIR] [-v]``: remove a stale lock, say what was done."""
    parser = argparse.ArgumentParser(
        prog="python -m spectm.workdir",
        description="Remove a Snakemake lock left by a killed run (never a running one's) and "
        "the temporary files of its interrupted writes.",
    )
    parser.add_argument("-d", "--directory", default=".", help="working directory (default: .)")
    parser.add_argument(
        "-v", "--verbose", action="store_true", help="also say so when there is no lock"
    )
    args = parser.parse_args(argv)
    outcome = unlock_stale(args.directory)
    where = Path(args.directory).resolve()
    if outcome.running:
        who = "; ".join(
            f"Snakemake process {pid}: {cmd[:80]}" if pid >= 0 else cmd
            for pid, cmd in outcome.running
        )
        print(
            f"spectm: the lock in {where / LOCK_DIR} belongs to a run that is not over ({who}); "
            "left alone. Wait for that run to end (or end it), then run the command again.",
            file=sys.stderr,
        )
    elif outcome.unlocked:
        print(
            f"spectm: removed the lock left in {where / LOCK_DIR} by a killed run "
            f"(no Snakemake runs there) and {len(outcome.removed)} temporary file(s) of its "
            "interrupted writes; the jobs it left unfinished run again (--rerun-incomplete).",
            file=sys.stderr,
        )
    elif args.verbose:
        print(f"spectm: no Snakemake lock in {where / LOCK_DIR}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
