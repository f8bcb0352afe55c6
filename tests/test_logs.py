"""spectm.logs: the error that ends a job reaches its log file; secrets reach no log."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap

import pytest

from spectm.logs import configure_logging, scrub_secrets

SECRET = "s3cr3t-Pa55word-xyz"


def _run(code: str, env_extra: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env_extra or {})}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip


def test_uncaught_exception_goes_to_the_log_file_and_stderr(tmp_path):
    log = tmp_path / "logs" / "rule.log"
    proc = _run(
        f"""
        import logging
        from spectm.logs import configure_logging
        configure_logging({str(log)!r})
        logging.getLogger("spectm.x").info("reading input.csv")
        def inner():
            raise ValueError("input.csv row 3: column 'lat' is 'abc', expected a number")
        inner()
        """
    )
    assert proc.returncode == 1
    text = log.read_text()
    assert "reading input.csv" in text
    assert "ERROR spectm: the job failed: ValueError: input.csv row 3" in text
    assert "Traceback (most recent call last)" in text and "in inner" in text
    # stderr: the log record of the info line, then Python's traceback, once
    assert proc.stderr.count("Traceback (most recent call last)") == 1
    assert "ValueError: input.csv row 3" in proc.stderr


def test_secrets_are_masked_in_the_log_file_and_on_stderr(tmp_path):
    log = tmp_path / "rule.log"
    proc = _run(
        f"""
        import logging, os
        from spectm.logs import configure_logging
        configure_logging({str(log)!r})
        logging.getLogger("spectm").warning("retrying with %s", os.environ["EARTHDATA_PASSWORD"])
        raise RuntimeError("login failed for tester:" + os.environ["EARTHDATA_TOKEN"])
        """,
        {"EARTHDATA_PASSWORD": SECRET, "EARTHDATA_TOKEN": SECRET + "-token"},
    )
    assert proc.returncode == 1
    text = log.read_text()
    assert "RuntimeError: login failed for tester:***" in text and "retrying with ***" in text
    assert SECRET not in text and SECRET not in proc.stderr + proc.stdout


def test_without_a_log_file_the_traceback_is_printed_as_usual():
    proc = _run(
        """
        from spectm.logs import configure_logging
        configure_logging(None)
        configure_logging(None)  # twice: one traceback, not two
        raise KeyError("no such key")
        """
    )
    assert proc.returncode == 1
    assert proc.stderr.count("Traceback (most recent call last)") == 1
    assert "KeyError: 'no such key'" in proc.stderr


def test_scrub_secrets_masks_only_set_values(monkeypatch):
    monkeypatch.setenv("ENMAP_TOKEN", SECRET)
    monkeypatch.setenv("EARTHDATA_PASSWORD", "ab")  # too short to mask: would mangle words
    monkeypatch.delenv("EARTHDATA_TOKEN", raising=False)
    assert scrub_secrets(f"Bearer {SECRET} abc") == "Bearer *** abc"


@pytest.fixture
def restore_logging():
    hook, level = sys.excepthook, logging.getLogger("spectm").level
    yield
    sys.excepthook = hook
    logging.basicConfig(force=True, handlers=[logging.NullHandler()])
    logging.getLogger("spectm").setLevel(level)


def test_configure_logging_in_process_writes_records(tmp_path, restore_logging, monkeypatch):
    monkeypatch.setenv("EARTHDATA_TOKEN", SECRET)
    configure_logging(tmp_path / "a.log")
    logging.getLogger("spectm.test").info("token %s used", SECRET)
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert (tmp_path / "a.log").read_text().endswith("INFO spectm.test: token *** used\n")


def test_reconfiguring_sends_the_error_to_the_new_log_only(tmp_path):
    first, second = tmp_path / "first.log", tmp_path / "second.log"
    proc = _run(
        f"""
        from spectm.logs import configure_logging
        configure_logging({str(first)!r})
        configure_logging({str(second)!r})
        configure_logging({str(second)!r})
        raise OSError("disk full writing results/x.nc")
        """
    )
    assert proc.returncode == 1
    assert "OSError: disk full" not in first.read_text()
    assert second.read_text().count("the job failed: OSError: disk full writing results/x.nc") == 1
    assert proc.stderr.count("Traceback (most recent call last)") == 1
