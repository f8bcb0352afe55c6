"""download_file: retries, clear errors, size checks and atomic writes (fake HTTP, no network)."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
import responses

from spectm.sources import http
from spectm.sources.http import DownloadError, download_file

URL = "https://data.example.org/archive/samples.csv"
BODY = b"date,station_name\n6/16/2020,WE2\n"


@pytest.fixture
def waits(monkeypatch) -> list[float]:
    """Record backoff sleeps instead of sleeping."""
    recorded: list[float] = []
    monkeypatch.setattr(http.time, "sleep", recorded.append)
    return recorded


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@responses.activate
def test_retries_5xx_then_succeeds_with_backoff(tmp_path, waits):
    responses.get(URL, status=503)
    responses.get(URL, status=502)
    responses.get(URL, body=BODY, auto_calculate_content_length=True)
    dest = download_file(URL, tmp_path / "sub" / "s.csv", retries=3, backoff_s=0.5)
    assert dest.read_bytes() == BODY
    assert len(responses.calls) == 3
    assert waits == [0.5, 1.0]
    assert listing(dest.parent) == ["s.csv"]


@responses.activate
def test_retries_connection_error_and_timeout(tmp_path, waits):
    responses.get(URL, body=requests.ConnectionError("connection reset"))
    responses.get(URL, body=requests.Timeout("read timed out"))
    responses.get(URL, body=BODY)
    assert download_file(URL, tmp_path / "s.csv").read_bytes() == BODY
    assert len(responses.calls) == 3


@responses.activate
def test_gives_up_after_retries_with_clear_error(tmp_path, waits):
    responses.get(URL, status=500)
    dest = tmp_path / "s.csv"
    with pytest.raises(DownloadError) as err:
        download_file(URL, dest, retries=2, backoff_s=0.0)
    message = str(err.value)
    assert URL in message and str(dest) in message and "3 attempt(s)" in message
    assert "HTTP 500" in message
    assert len(responses.calls) == 3
    assert listing(tmp_path) == []


@responses.activate
def test_404_fails_at_once_naming_url_and_dest(tmp_path, waits):
    responses.get(URL, status=404)
    dest = tmp_path / "s.csv"
    with pytest.raises(DownloadError, match=r"HTTP 404") as err:
        download_file(URL, dest)
    assert URL in str(err.value) and str(dest) in str(err.value)
    assert len(responses.calls) == 1 and waits == []
    assert listing(tmp_path) == []


@responses.activate
def test_truncated_body_is_a_size_error_and_leaves_nothing(tmp_path, waits):
    # Content-Length announces 100 bytes; the body stops after len(BODY).
    responses.get(URL, body=BODY, headers={"Content-Length": "100"})
    dest = tmp_path / "s.csv"
    with pytest.raises(DownloadError, match="size mismatch") as err:
        download_file(URL, dest, retries=1)
    assert URL in str(err.value) and str(dest) in str(err.value)
    assert len(responses.calls) == 2  # a truncated transfer is retried once
    assert listing(tmp_path) == []


@responses.activate
def test_expected_size_mismatch_is_permanent(tmp_path, waits):
    responses.get(URL, body=BODY, auto_calculate_content_length=True)
    dest = tmp_path / "s.csv"
    with pytest.raises(DownloadError, match=rf"announces {len(BODY)} bytes, expected 7"):
        download_file(URL, dest, expected_size=7)
    assert len(responses.calls) == 1
    assert listing(tmp_path) == []


@responses.activate
def test_expected_size_checked_without_content_length(tmp_path, waits):
    responses.get(URL, body=BODY)  # no Content-Length header
    with pytest.raises(DownloadError, match=rf"received {len(BODY)} bytes, expected 5"):
        download_file(URL, tmp_path / "a.csv", expected_size=5)
    ok = download_file(URL, tmp_path / "b.csv", expected_size=len(BODY))
    assert ok.read_bytes() == BODY
    assert listing(tmp_path) == ["b.csv"]


@responses.activate
def test_failed_download_keeps_previous_file(tmp_path, waits):
    dest = tmp_path / "s.csv"
    dest.write_bytes(b"previous complete file")
    responses.get(URL, body=BODY, headers={"Content-Length": "100"})
    with pytest.raises(DownloadError):
        download_file(URL, dest, retries=0)
    assert dest.read_bytes() == b"previous complete file"
    assert listing(tmp_path) == ["s.csv"]


@responses.activate
def test_success_replaces_previous_file_and_uses_given_session(tmp_path, waits):
    dest = tmp_path / "s.csv"
    dest.write_bytes(b"old")
    responses.get(URL, body=BODY, auto_calculate_content_length=True)
    session = requests.Session()
    session.headers["User-Agent"] = "spectm-test"
    download_file(URL, dest, session=session)
    assert dest.read_bytes() == BODY
    assert responses.calls[0].request.headers["User-Agent"] == "spectm-test"


def test_negative_retries_rejected(tmp_path):
    with pytest.raises(ValueError, match="retries"):
        download_file(URL, tmp_path / "s.csv", retries=-1)
