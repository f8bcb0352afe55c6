"""Plain HTTP(S) file download with retries, size checks and atomic writes.

Used for the NCEI / GLERL sample CSVs (and any other public file fetched over HTTP). A download
either leaves the complete file at ``dest`` or leaves ``dest`` exactly as it was before.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import requests

from spectm._io import atomic_path
from spectm.logs import scrub_secrets

#: Status codes worth retrying (server-side or rate limiting); other 4xx fail at once.
_RETRY_STATUS = frozenset({408, 429})
_CHUNK_BYTES = 1 << 20


class DownloadError(RuntimeError):
    """A download failed; the message names the URL and the destination."""


class _TransientError(Exception):
    """A failure worth another attempt (connection, timeout, 5xx, truncated body)."""


def pause_before_retry(
    attempt: int, backoff_s: float, what: str, reason: str, log: logging.Logger
) -> None:
    """Log that ``what`` failed and why, then wait before retry ``attempt`` (1-based).

    The wait is ``backoff_s * 2 ** (attempt - 1)`` seconds (exponential backoff).
    """
    wait = backoff_s * 2 ** (attempt - 1)
    log.warning("%s failed (%s); retrying in %.1f s", what, reason, wait)
    time.sleep(wait)


def download_file(
    url: str,
    dest: str | os.PathLike[str],
    *,
    expected_size: int | None = None,
    retries: int = 3,
    backoff_s: float = 1.0,
    timeout_s: float = 60.0,
    session: requests.Session | None = None,
    auth_hint: str | None = None,
) -> Path:
    """Download ``url`` to ``dest`` atomically, retrying transient failures.

    Args:
        url: HTTP(S) address of the file.
        dest: Destination path; parent directories are created. An existing file is replaced
            only by a complete new download.
        expected_size: Expected size in bytes, if known; a different size is an error.
        retries: Extra attempts after the first one for connection errors, timeouts, HTTP 5xx /
            408 / 429 and bodies shorter than their ``Content-Length``.
        backoff_s: Wait before retry ``k`` (1-based) is ``backoff_s * 2 ** (k - 1)`` seconds.
        timeout_s: Connect and read timeout per attempt, seconds.
        session: A ``requests.Session`` to use (e.g. with auth or a cache); a new one otherwise.
        auth_hint: What to do when the server refuses access (HTTP 401 / 403), e.g. which
            credentials to check; default: the file may not be public.

    Returns:
        The destination path.

    Raises:
        DownloadError: On a permanent HTTP error (e.g. 404), a size mismatch, or when all attempts
            failed. The message (one line) names the URL, the destination and what to do;
            nothing is left at ``dest`` (a pre-existing file is untouched) and no temporary file
            remains.
        ValueError: If ``retries`` or ``backoff_s`` is negative.

    """
    if retries < 0 or backoff_s < 0:
        raise ValueError(f"retries and backoff_s must be >= 0, got {retries} and {backoff_s}")
    dest_path = Path(dest)
    http = session if session is not None else requests.Session()
    failures: list[str] = []
    for attempt in range(retries + 1):
        if attempt:
            time.sleep(backoff_s * 2 ** (attempt - 1))
        try:
            _attempt(
                http, url, dest_path, expected_size=expected_size, timeout_s=timeout_s,
                auth_hint=auth_hint,
            )  # fmt: skip
            return dest_path
        except _TransientError as exc:
            failures.append(f"attempt {attempt + 1}: {exc}")
    raise DownloadError(
        scrub_secrets(
            f"download of {url} to {dest_path} failed after {retries + 1} attempt(s): "
            + "; ".join(failures)
            + ". Check the network connection (proxy, firewall) or try again later; a rerun "
            "fetches only what is missing"
        )
    )


def _attempt(
    http: requests.Session,
    url: str,
    dest: Path,
    *,
    expected_size: int | None,
    timeout_s: float,
    auth_hint: str | None,
) -> None:
    """One GET streamed into a temporary sibling of ``dest``; renamed only when complete."""
    try:
        with http.get(url, stream=True, timeout=timeout_s) as resp:
            status = resp.status_code
            if status >= 500 or status in _RETRY_STATUS:
                raise _TransientError(f"HTTP {status} {resp.reason}")
            if status >= 400:
                raise DownloadError(_refusal(status, resp.reason, url, dest, auth_hint))
            declared = _declared_length(resp)
            if expected_size is not None and declared is not None and declared != expected_size:
                raise DownloadError(
                    f"size mismatch for {url} (destination {dest}): server announces "
                    f"{declared} bytes, expected {expected_size}"
                )
            with atomic_path(dest) as tmp:
                received = 0
                with tmp.open("wb") as fh:
                    for chunk in resp.iter_content(chunk_size=_CHUNK_BYTES):
                        fh.write(chunk)
                        received += len(chunk)
                if declared is not None and received != declared:
                    raise _TransientError(
                        f"size mismatch (truncated body): received {received} of {declared} bytes"
                    )
                if expected_size is not None and received != expected_size:
                    raise DownloadError(
                        f"size mismatch for {url} (destination {dest}): received {received} "
                        f"bytes, expected {expected_size}"
                    )
    except requests.exceptions.ChunkedEncodingError as exc:
        raise _TransientError(f"size mismatch (incomplete body): {exc}") from exc
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise _TransientError(f"{type(exc).__name__}: {exc}") from exc
    except requests.RequestException as exc:  # invalid URL, too many redirects, ...
        raise DownloadError(
            scrub_secrets(f"{url} (destination {dest}): {type(exc).__name__}: {exc}")
        ) from exc


def _refusal(status: int, reason: str, url: str, dest: Path, auth_hint: str | None) -> str:
    """One-line message for a permanent HTTP error: the URL, the destination, what to do."""
    head = f"HTTP {status} {reason} for {url} (destination {dest})"
    if status in (401, 403):
        hint = auth_hint or "the file may not be public: check the address or the access rights"
        return f"{head}: access refused; {hint}"
    if status in (404, 410):
        return (
            f"{head}: the file is not at this address (moved or withdrawn?); check the URL, "
            f"or download the file by hand to {dest}"
        )
    return f"{head}: not retried (a client error); check the URL"


def _declared_length(resp: requests.Response) -> int | None:
    """``Content-Length`` in bytes of the decoded body, or None when unknown or compressed."""
    encoding = resp.headers.get("Content-Encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):
        return None  # the header counts compressed bytes; iter_content yields decoded ones
    raw = resp.headers.get("Content-Length")
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        return None
