"""Preflight: credentials and reachability of the remote sources, before any job runs.

A run that needs the network (``pace.source: earthdata``, ``samples.source: ncei``,
``enmap.source: stac``) checks in its first seconds that the credentials are there (no request)
and that every host it will talk to answers (one short request each, in parallel, with a short
timeout), instead of failing in the search job after unrelated work, or hanging on a login
request without a timeout. The Snakefile's ``onstart:`` calls :func:`preflight` with the rules
of the jobs about to run (Snakemake runs ``onstart`` after building the DAG and never on a
dry-run), so a run whose downloads are all done needs neither credentials nor network.

Any HTTP answer counts as reachable (even 401 or 405: the host is there; access is checked when
the job uses it). Nothing is downloaded and no credential is sent.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pandas as pd
import requests

from spectm.logs import scrub_secrets

__all__ = ["PreflightError", "check_earthdata", "preflight", "unreachable"]

PACE_MANIFEST = "results/pace/manifest.csv"
"""The ``pace_search`` checkpoint's output (its granule URLs name the data host)."""
ENMAP_MANIFEST = "results/enmap/manifest.csv"
"""The ``enmap_search`` checkpoint's output (its asset URLs name the download host)."""

_EARTHDATA_RULES = frozenset({"pace_search", "pace_granule"})
_ENMAP_RULES = frozenset({"enmap_search", "enmap_product"})
_GLERL_RULES = frozenset({"glerl_download"})


class PreflightError(RuntimeError):
    """A run that needs the network lacks credentials or cannot reach a host (one line each)."""


def _root(url: str) -> str:
    """``scheme://host/`` of ``url``."""
    parts = urlparse(url)
    return f"{parts.scheme}://{parts.netloc}/"


def _probe(url: str, timeout_s: float, attempts: int) -> str | None:
    """None when ``url`` answers (any HTTP status) within ``timeout_s``, else the reason."""
    reason = ""
    for attempt in range(attempts):
        if attempt:
            time.sleep(1.0)
        try:
            with requests.head(url, timeout=timeout_s, allow_redirects=False):
                return None
        except requests.RequestException as err:
            reason = _reason(err, timeout_s)
    return reason


def _reason(err: requests.RequestException, timeout_s: float) -> str:
    """A short reason for a failed probe.

    requests' own messages run to several hundred characters of nested urllib3 errors.
    """
    text = str(err)
    if isinstance(err, requests.Timeout):
        return f"{type(err).__name__}: no answer within {timeout_s:g} s"
    errno = re.findall(r"\[Errno -?\d+\] [^'\")\]]+", text)
    detail = errno[-1].strip() if errno else ""
    if not detail and "Failed to resolve" in text:
        detail = "the host name does not resolve (no DNS: offline?)"
    if isinstance(err, requests.exceptions.ProxyError):
        proxy = re.search(r"host='([^']+)', port=(\d+)\)?: Failed", text)
        where = f" {proxy.group(1)}:{proxy.group(2)}" if proxy else ""
        return f"ProxyError: cannot connect to the proxy{where} ({detail or 'refused'})"
    if detail:
        return f"{type(err).__name__}: {detail}"
    return " ".join(f"{type(err).__name__}: {text}".split())[:300]


def unreachable(
    urls: Iterable[str], *, timeout_s: float = 10.0, attempts: int = 2, what: str = ""
) -> list[str]:
    """Problems (one line per URL that does not answer), probing all URLs at once.

    Args:
        urls: Addresses to probe (``HEAD``, no redirect followed, no credentials sent).
        timeout_s: Connect and read timeout per attempt, seconds.
        attempts: Tries per URL (1 s apart) before it counts as unreachable.
        what: Appended to each line: what to do instead (e.g. the offline source).

    Returns:
        ``[]`` when every URL answered.
    """
    unique = list(dict.fromkeys(urls))
    if not unique:
        return []
    with ThreadPoolExecutor(max_workers=min(8, len(unique))) as pool:
        reasons = list(pool.map(lambda u: _probe(u, timeout_s, attempts), unique))
    return [
        scrub_secrets(
            f"cannot reach {url} ({attempts} attempt(s), {timeout_s:g} s timeout): {reason}; "
            f"check the network connection (proxy, firewall){what}"
        )
        for url, reason in zip(unique, reasons, strict=True)
        if reason is not None
    ]


def _earthdata_problems(
    *, search: bool, data_urls: Sequence[str], timeout_s: float, attempts: int
) -> tuple[list[str], list[str]]:
    """(problems, what was checked) of the Earthdata source."""
    from spectm.sources.pace import earthdata  # not imported by runs that need no network

    try:
        _, where = earthdata.credentials_source()
    except earthdata.EarthdataLoginError as err:
        return [str(err)], []
    urls = [f"https://{earthdata.EDL_HOST}/"]
    if search:
        urls.append(earthdata.CMR_URL)
    urls += [_root(u) for u in data_urls if u.startswith("https://")]
    problems = unreachable(
        urls, timeout_s=timeout_s, attempts=attempts, what="; pace.source: demo runs offline"
    )
    return problems, [f"Earthdata credentials from the {where}", *urls]


def check_earthdata(
    *,
    search: bool = True,
    data_urls: Sequence[str] = (),
    timeout_s: float = 10.0,
    attempts: int = 2,
) -> list[str]:
    """Check the Earthdata credentials (no request) and that Earthdata answers, quickly.

    Args:
        search: Also probe CMR (the search); Earthdata Login is always probed.
        data_urls: Granule URLs whose hosts are probed as well.
        timeout_s: Timeout per probe, seconds.
        attempts: Tries per host.

    Returns:
        What was checked (for the log).

    Raises:
        PreflightError: without credentials (before any request) or when a host does not
            answer; one line per problem.
    """
    problems, checked = _earthdata_problems(
        search=search, data_urls=data_urls, timeout_s=timeout_s, attempts=attempts
    )
    if problems:
        raise PreflightError("\n".join(problems))
    return checked


def _manifest_urls(path: Path, column: str) -> list[str]:
    """URLs of ``column`` in a manifest CSV, or [] when the manifest is not there (yet)."""
    if not path.is_file():
        return []
    try:
        values = pd.read_csv(path, dtype=str, usecols=[column])[column].dropna()
    except (ValueError, OSError):  # an unreadable manifest is the job's to report
        return []
    return sorted({_root(str(u)) for u in values if str(u).startswith("https://")})


def _enmap_asset_urls(path: Path) -> list[str]:
    if not path.is_file():
        return []
    try:
        assets = pd.read_csv(path, dtype=str, usecols=["assets"])["assets"].dropna()
        hrefs = [a["href"] for cell in assets for a in json.loads(cell).values()]
    except (ValueError, OSError, KeyError, TypeError, AttributeError):
        return []
    return sorted({_root(h) for h in hrefs if str(h).startswith("https://")})


def preflight(
    config: Mapping[str, Any],
    rules: Collection[str],
    *,
    workdir: str | Path = ".",
    timeout_s: float = 10.0,
    attempts: int = 2,
) -> list[str]:
    """Check credentials and reachability for the remote sources the jobs about to run use.

    Args:
        config: The workflow configuration (``pace``, ``samples``, ``enmap`` sections).
        rules: Rule names of the jobs that will run (Snakemake's ``needrun`` jobs).
        workdir: The workflow's working directory (manifests already written name the data
            hosts).
        timeout_s: Timeout per probe, seconds (every host is probed at once).
        attempts: Tries per host.

    Returns:
        What was checked, one line each (empty when the run needs no network).

    Raises:
        PreflightError: naming every missing credential and unreachable host, one per line, and
            what to do.
    """
    rules = set(rules)
    work = Path(workdir)
    problems: list[str] = []
    checked: list[str] = []
    remote: set[str] = set()  # the rules that need the network
    pace = config.get("pace", {})
    if pace.get("source") == "earthdata" and rules & _EARTHDATA_RULES:
        remote |= rules & _EARTHDATA_RULES
        data = _manifest_urls(work / PACE_MANIFEST, "url") if "pace_granule" in rules else []
        found, seen = _earthdata_problems(
            search="pace_search" in rules, data_urls=data, timeout_s=timeout_s, attempts=attempts
        )
        problems += found
        checked += seen
    if config.get("samples", {}).get("source") == "ncei" and rules & _GLERL_RULES:
        remote |= rules & _GLERL_RULES
        from spectm.sources.glerl.remote import NCEI_FILES

        urls = sorted({_root(f.url) for f in NCEI_FILES})
        problems += unreachable(
            urls, timeout_s=timeout_s, attempts=attempts,
            what="; samples.source: bundled uses the copies shipped with spectm",
        )  # fmt: skip
        checked += urls
    enmap = config.get("enmap", {})
    if enmap.get("enabled") and enmap.get("source") == "stac" and rules & _ENMAP_RULES:
        remote |= rules & _ENMAP_RULES
        from spectm.sources.enmap import stac  # imported only by this source

        try:
            creds = stac.credentials()
            checked.append(f"DLR credentials from the {creds.source}")
        except stac.EnmapCredentialsError as err:
            problems.append(str(err))
        urls = [str(enmap.get("stac_url") or stac.DLR_STAC_URL)]
        if "enmap_product" in rules:
            urls += _enmap_asset_urls(work / ENMAP_MANIFEST)
        problems += unreachable(
            urls, timeout_s=timeout_s, attempts=attempts,
            what="; enmap.source: demo or local runs offline",
        )  # fmt: skip
        checked += urls
    if problems:
        needs = ", ".join(sorted(remote))
        raise PreflightError(
            f"preflight failed (jobs that need the network: {needs}):\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
    return checked
