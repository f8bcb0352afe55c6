"""Faults of the remote sources: retried transient failures, one-line refusals, preflight.

Every downloader (PACE granules from Earthdata, EnMAP products from DLR, GLERL CSVs from NCEI)
meets the same faults served by the `responses` library: HTTP 5xx, timeouts and truncated bodies
are retried; 401 / 403 / 404 end at once with one line naming the URL and what to do. The
searches (CMR, STAC) and Earthdata Login retry and explain an unreachable host, and the
preflight finds missing credentials (before any request) and unreachable hosts (a refused local
port, a port that never answers) within seconds. No test touches the network.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import earthaccess
import pandas as pd
import pytest
import requests
import responses
from earthaccess.auth import Auth

from spectm.sources import preflight
from spectm.sources.enmap import stac
from spectm.sources.glerl import remote
from spectm.sources.http import DownloadError
from spectm.sources.pace import earthdata

pytestmark = [
    pytest.mark.filterwarnings("ignore:As of version 1.0:FutureWarning"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
]

DATA = Path(__file__).resolve().parents[1] / "data"
SECRET = "s3cr3t-Pa55word-xyz"
CREDENTIAL_VARS = (
    "EARTHDATA_USERNAME", "EARTHDATA_PASSWORD", "EARTHDATA_TOKEN",
    "ENMAP_USERNAME", "ENMAP_PASSWORD", "ENMAP_TOKEN", "NETRC",
)  # fmt: skip
CMR = re.compile(r"https://cmr\.earthdata\.nasa\.gov/search/granules\.umm_json.*")
EDL_TOKEN = "https://urs.earthdata.nasa.gov/api/users/find_or_create_token"
EDL_PROFILE = "https://urs.earthdata.nasa.gov/profile"
STAC_API = "https://geoservice.dlr.de/eoc/ogc/stac/v1"


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    """No credentials, an empty HOME, a logged-out earthaccess, and no real waiting."""
    for var in CREDENTIAL_VARS:
        monkeypatch.delenv(var, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setattr(earthaccess, "_auth", Auth())
    monkeypatch.setattr(earthaccess, "_store", None)
    vars(earthaccess).pop("__store__", None)
    waits: list[float] = []
    # every downloader's backoff (sources.http, earthdata, stac, preflight) calls time.sleep
    monkeypatch.setattr(time, "sleep", waits.append)
    yield waits
    vars(earthaccess).pop("__store__", None)


@pytest.fixture
def fake_http() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


# ------------------------------------------------------------------------------- downloaders


@dataclass(frozen=True)
class Downloader:
    """One downloader with the URL that gets the faults and a body that passes its checks."""

    name: str
    url: str
    body: bytes
    fetch: Callable[[Path], Path]  # tmp_path -> the downloaded file
    refused_hint: str  # in the 401 / 403 message: what to check
    others: dict[str, bytes]  # further URLs of the same product, served fine


PACE_URL = (
    "https://obdaac-tea.earthdatacloud.nasa.gov/ob-cumulus-prod-public/"
    "PACE_OCI.20240520T180624.L2.OC_AOP.V3_1.nc"
)
PACE_BODY = bytes(range(256)) * 8


def _fetch_pace(tmp: Path) -> Path:
    row = pd.Series({"url": PACE_URL, "size_bytes": len(PACE_BODY), "size_tolerance_bytes": 0})
    return earthdata.download_granule(
        row, tmp / "granule.nc", retries=2, backoff_s=0, session_factory=requests.Session
    )


PRODUCT = "ENMAP01-____L2A-DT0000088765_20240712T161958Z_002_V010502_20240713T080004Z"
ENMAP_HOST = "https://download.geoservice.dlr.de/ENMAP/files"
ENMAP_FILES = {
    "SPECTRAL_IMAGE": b"II*\x00" + b"\x00" * 60,
    "METADATA": b"<?xml version='1.0'?><level_X/>",
    "QL_PIXELMASK": b"II*\x00" + b"\x01" * 20,
    "QL_QUALITY_CLOUD": b"II*\x00" + b"\x02" * 20,
}


def _enmap_href(kind: str) -> str:
    return f"{ENMAP_HOST}/{PRODUCT}-{kind}.{'XML' if kind == 'METADATA' else 'TIF'}"


def _fetch_enmap(tmp: Path) -> Path:
    assets = {k: {"href": _enmap_href(k), "size": None} for k in ENMAP_FILES}
    row = {"product": PRODUCT, "assets": json.dumps(assets)}
    out = stac.download_product(row, tmp / PRODUCT, retries=2, session=requests.Session())
    return out / f"{PRODUCT}-SPECTRAL_IMAGE.TIF"


GLERL_URL = "https://www.ncei.noaa.gov/data/oceans/archive/arc0225/0292222/1.1/data/0-data/x.csv"
GLERL_BODY = b"Date,Site\n6/16/2020,WE2\n"


def _fetch_glerl(tmp: Path) -> Path:
    files = (remote.RemoteSampleFile("x.csv", GLERL_URL, "NCEI 0292222 v1.1", "2022"),)
    return remote.fetch_ncei_file("x.csv", tmp / "x.csv", files=files)


_ENMAP_OTHERS = {_enmap_href(k): b for k, b in ENMAP_FILES.items() if k != "SPECTRAL_IMAGE"}
DOWNLOADERS = [
    Downloader("pace", PACE_URL, PACE_BODY, _fetch_pace, "Earthdata login", {}),
    Downloader(
        "enmap",
        _enmap_href("SPECTRAL_IMAGE"),
        ENMAP_FILES["SPECTRAL_IMAGE"],
        _fetch_enmap,
        "ENMAP_TOKEN",
        _ENMAP_OTHERS,
    ),
    Downloader("glerl", GLERL_URL, GLERL_BODY, _fetch_glerl, "public", {}),
]


def _serve_others(rsps: responses.RequestsMock, d: Downloader) -> None:
    for url, body in d.others.items():
        rsps.get(url, body=body, auto_calculate_content_length=True)


def _no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.rglob("*") if p.name.endswith(".tmp")]


TRANSIENT = {
    "http-503": {"status": 503},
    "http-500": {"status": 500},
    "timeout": {"body": requests.exceptions.ReadTimeout("read timed out")},
    "connection": {"body": requests.exceptions.ConnectionError("connection reset by peer")},
}


@pytest.mark.parametrize("fault", list(TRANSIENT))
@pytest.mark.parametrize("d", DOWNLOADERS, ids=lambda d: d.name)
def test_transient_failure_is_retried(d, fault, fake_http, tmp_path):
    fake_http.get(d.url, **TRANSIENT[fault])
    fake_http.get(d.url, body=d.body, auto_calculate_content_length=True)
    _serve_others(fake_http, d)
    out = d.fetch(tmp_path)
    assert out.read_bytes() == d.body
    assert [c.request.url for c in fake_http.calls].count(d.url) == 2
    assert _no_temp_files(tmp_path)


@pytest.mark.parametrize("d", DOWNLOADERS, ids=lambda d: d.name)
def test_truncated_body_is_retried(d, fake_http, tmp_path):
    fake_http.get(d.url, body=d.body[:10], headers={"Content-Length": str(len(d.body))})
    fake_http.get(d.url, body=d.body, auto_calculate_content_length=True)
    _serve_others(fake_http, d)
    assert d.fetch(tmp_path).read_bytes() == d.body
    assert [c.request.url for c in fake_http.calls].count(d.url) == 2
    assert _no_temp_files(tmp_path)


@pytest.mark.parametrize("status", [401, 403])
@pytest.mark.parametrize("d", DOWNLOADERS, ids=lambda d: d.name)
def test_refused_access_ends_at_once_with_what_to_check(d, status, fake_http, tmp_path):
    fake_http.get(d.url, status=status)
    _serve_others(fake_http, d)
    with pytest.raises((DownloadError, earthdata.EarthdataDownloadError)) as err:
        d.fetch(tmp_path)
    message = str(err.value)
    assert "\n" not in message
    assert d.url in message and str(status) in message and d.refused_hint in message
    assert [c.request.url for c in fake_http.calls].count(d.url) == 1  # not retried
    assert _no_temp_files(tmp_path)


@pytest.mark.parametrize("d", DOWNLOADERS, ids=lambda d: d.name)
def test_not_found_ends_at_once_naming_the_url(d, fake_http, tmp_path):
    fake_http.get(d.url, status=404)
    _serve_others(fake_http, d)
    with pytest.raises((DownloadError, earthdata.EarthdataDownloadError)) as err:
        d.fetch(tmp_path)
    message = str(err.value)
    assert "\n" not in message and d.url in message and "404" in message
    assert "not at this address" in message
    assert [c.request.url for c in fake_http.calls].count(d.url) == 1
    assert _no_temp_files(tmp_path)


@pytest.mark.parametrize("d", DOWNLOADERS, ids=lambda d: d.name)
def test_persistent_server_error_gives_up_with_advice(d, fake_http, tmp_path, offline):
    fake_http.get(d.url, status=502)
    _serve_others(fake_http, d)
    with pytest.raises((DownloadError, earthdata.EarthdataDownloadError)) as err:
        d.fetch(tmp_path)
    message = str(err.value)
    assert "\n" not in message and d.url in message
    assert "network connection" in message and "try again later" in message
    n = [c.request.url for c in fake_http.calls].count(d.url)
    assert n == (4 if d.name == "glerl" else 3)  # retries: 2 (pace, enmap), 3 (glerl default)
    assert offline == sorted(offline)  # growing backoff
    assert _no_temp_files(tmp_path)


@pytest.mark.parametrize("d", DOWNLOADERS, ids=lambda d: d.name)
def test_a_failed_download_never_shows_a_planted_secret(d, fake_http, tmp_path, monkeypatch):
    monkeypatch.setenv("EARTHDATA_PASSWORD", SECRET)
    monkeypatch.setenv("ENMAP_TOKEN", SECRET + "-enmap")
    echo = requests.exceptions.ConnectionError(f"proxy said: bad credentials user:{SECRET}")
    fake_http.get(d.url, body=echo)
    _serve_others(fake_http, d)
    with pytest.raises((DownloadError, earthdata.EarthdataDownloadError)) as err:
        d.fetch(tmp_path)
    assert SECRET not in str(err.value) and SECRET not in repr(err.value)
    assert "user:***" in str(err.value)


def test_glerl_refusal_says_the_bundled_copies_work_offline(fake_http, tmp_path):
    fake_http.get(GLERL_URL, status=404)
    with pytest.raises(DownloadError, match=r"samples\.source: bundled"):
        _fetch_glerl(tmp_path)


# ------------------------------------------------------------------------------- searches


def _cmr_page() -> dict:
    return json.loads((DATA / "earthdata" / "cmr_granules_pace_oci_l2_aop.json").read_text())


SEARCH = {"start": "2024-03-01", "end": "2024-05-31", "bbox": (-83.5, 41.3, -82.45, 42.2)}


def test_cmr_search_retries_connection_errors_and_5xx(fake_http):
    page = _cmr_page()
    fake_http.get(CMR, body=requests.exceptions.ConnectionError("connection refused"))
    fake_http.get(CMR, status=503, body="Service Unavailable")
    fake_http.get(CMR, json=page, headers={"CMR-Hits": str(page["hits"])})
    df = earthdata.search_granules(**SEARCH)
    assert len(df) == 2


def test_cmr_search_unreachable_is_one_clear_error(fake_http, offline):
    fake_http.get(CMR, body=requests.exceptions.ConnectionError("Max retries exceeded"))
    with pytest.raises(earthdata.EarthdataSearchError) as err:
        earthdata.search_granules(**SEARCH, retries=2)
    message = str(err.value)
    assert "cmr.earthdata.nasa.gov" in message and "3 attempt(s)" in message
    assert "network connection" in message and "pace.source: demo" in message
    assert "\n" not in message and len(offline) == 2


def test_cmr_refusing_the_query_is_not_retried(fake_http):
    fake_http.get(CMR, status=400, json={"errors": ["Collection version is invalid"]})
    with pytest.raises(earthdata.EarthdataSearchError, match=r"refused the query.*pace\.version"):
        earthdata.search_granules(**SEARCH)
    assert len(fake_http.calls) == 1


def _serve_stac_landing(rsps, **kwargs) -> None:
    landing = json.loads((DATA / "enmap" / "stac_landing.json").read_text())
    rsps.get(f"{STAC_API}/", **(kwargs or {"json": landing}))


def _stac_search() -> pd.DataFrame:
    return stac.search_products(
        url=f"{STAC_API}/", collection="ENMAP_HSI_L2A", start="2024-07-01", end="2024-08-31",
        bbox=(-83.6, 41.3, -82.4, 42.2), retries=2, timeout_s=5,
    )  # fmt: skip


def test_stac_search_retries_then_succeeds(fake_http):
    _serve_stac_landing(fake_http, body=requests.exceptions.ConnectionError("reset"))
    _serve_stac_landing(fake_http, status=502, body="Bad Gateway")
    _serve_stac_landing(fake_http)
    fake_http.post(
        f"{STAC_API}/search",
        json=json.loads((DATA / "enmap" / "stac_search_page1.json").read_text()),
    )
    fake_http.get(
        re.compile(re.escape(f"{STAC_API}/search?token=page2")),
        json=json.loads((DATA / "enmap" / "stac_search_page2.json").read_text()),
    )
    assert len(_stac_search()) == 2


def test_stac_search_unreachable_is_one_clear_error(fake_http):
    _serve_stac_landing(fake_http, body=requests.exceptions.ConnectionError("Name or service"))
    with pytest.raises(stac.EnmapSearchError) as err:
        _stac_search()
    message = str(err.value)
    assert f"{STAC_API}/" in message and "3 attempt(s)" in message
    assert "network connection" in message and "enmap.source: demo" in message
    assert "\n" not in message


def test_stac_search_not_found_is_not_retried(fake_http):
    _serve_stac_landing(fake_http, status=404, body="Not Found")
    with pytest.raises(stac.EnmapSearchError, match=r"refused.*enmap\.stac_url"):
        _stac_search()
    assert len(fake_http.calls) == 1


# ------------------------------------------------------------------------------- login


def test_login_unreachable_names_the_host_and_never_the_password(
    fake_http, monkeypatch, caplog, offline
):
    monkeypatch.setenv("EARTHDATA_USERNAME", "tester")
    monkeypatch.setenv("EARTHDATA_PASSWORD", SECRET)
    # a proxy error that echoes the credentials it was given
    echo = requests.exceptions.ProxyError(f"proxy refused tester:{SECRET}@urs.earthdata.nasa.gov")
    fake_http.post(EDL_TOKEN, body=echo)
    with pytest.raises(earthdata.EarthdataLoginError) as err:
        earthdata.login()
    message = str(err.value)
    assert "cannot reach Earthdata Login at https://urs.earthdata.nasa.gov" in message
    assert "3 attempt(s)" in message and "network connection" in message
    assert SECRET not in message and SECRET not in repr(err.value)
    assert SECRET not in caplog.text
    assert len(offline) == 2


def test_login_with_a_refused_token_says_what_to_do(fake_http, monkeypatch):
    monkeypatch.setenv("EARTHDATA_TOKEN", SECRET)
    fake_http.get(EDL_PROFILE, status=401)
    with pytest.raises(
        earthdata.EarthdataLoginError, match=r"HTTP 401.*expired EARTHDATA_TOKEN"
    ) as err:
        earthdata.login()
    assert "\n" not in str(err.value) and SECRET not in str(err.value)


def test_login_retries_a_server_error(fake_http, monkeypatch):
    monkeypatch.setenv("EARTHDATA_TOKEN", "tok")
    fake_http.get(EDL_PROFILE, status=503)
    fake_http.get(EDL_PROFILE, json={"uid": "tester"})
    assert earthdata.login().authenticated


# ------------------------------------------------------------------------------- preflight

EARTHDATA_CONFIG = {"pace": {"source": "earthdata"}, "samples": {"source": "bundled"}}


def test_preflight_without_credentials_fails_before_any_request(fake_http):
    with pytest.raises(preflight.PreflightError) as err:
        preflight.preflight(EARTHDATA_CONFIG, {"pace_search", "samples"})
    message = str(err.value)
    assert "pace_search" in message and "no Earthdata credentials" in message
    assert "EARTHDATA_TOKEN" in message and "urs.earthdata.nasa.gov" in message
    assert len(fake_http.calls) == 0


def test_preflight_unreachable_host_names_it(fake_http, monkeypatch):
    monkeypatch.setenv("EARTHDATA_TOKEN", SECRET)
    fake_http.head("https://urs.earthdata.nasa.gov/", status=200)
    fake_http.head(earthdata.CMR_URL, body=requests.exceptions.ConnectionError("no route to host"))
    with pytest.raises(preflight.PreflightError) as err:
        preflight.preflight(EARTHDATA_CONFIG, {"pace_search"})
    message = str(err.value)
    assert f"cannot reach {earthdata.CMR_URL}" in message and "no route to host" in message
    assert "pace.source: demo runs offline" in message
    assert "urs.earthdata" not in message.split("cannot reach", 1)[1]
    assert SECRET not in message
    assert all("Authorization" not in c.request.headers for c in fake_http.calls)


def test_preflight_checks_the_data_host_of_an_existing_manifest(fake_http, monkeypatch, tmp_path):
    monkeypatch.setenv("EARTHDATA_TOKEN", "tok")
    manifest = tmp_path / preflight.PACE_MANIFEST
    manifest.parent.mkdir(parents=True)
    pd.DataFrame({"granule": ["g.nc"], "url": [PACE_URL]}).to_csv(manifest, index=False)
    for url in ("https://urs.earthdata.nasa.gov/", "https://obdaac-tea.earthdatacloud.nasa.gov/"):
        fake_http.head(url, status=405)  # any answer: the host is there
    checked = preflight.preflight(EARTHDATA_CONFIG, {"pace_granule"}, workdir=tmp_path)
    assert "https://obdaac-tea.earthdatacloud.nasa.gov/" in checked
    assert earthdata.CMR_URL not in checked  # no search in this run
    assert "Earthdata credentials from the environment variables (EARTHDATA_TOKEN)" in checked


def test_preflight_needs_nothing_when_no_remote_job_runs(fake_http):
    config = {
        "pace": {"source": "earthdata"},
        "samples": {"source": "ncei"},
        "enmap": {"enabled": True, "source": "stac"},
    }
    assert preflight.preflight(config, {"chip", "matchups", "report"}) == []
    assert preflight.preflight({"pace": {"source": "demo"}}, {"pace_search"}) == []
    assert len(fake_http.calls) == 0


def test_preflight_ncei_and_stac(fake_http, monkeypatch):
    config = {
        "pace": {"source": "demo"},
        "samples": {"source": "ncei"},
        "enmap": {"enabled": True, "source": "stac", "stac_url": f"{STAC_API}/"},
    }
    for host in ("https://www.nodc.noaa.gov/", "https://www.ncei.noaa.gov/"):
        fake_http.head(host, status=200)
    fake_http.head("https://www.glerl.noaa.gov/", body=requests.exceptions.ConnectTimeout("t/o"))
    fake_http.head(f"{STAC_API}/", status=200)
    with pytest.raises(preflight.PreflightError) as err:
        preflight.preflight(config, {"glerl_download", "enmap_search"})
    header, *lines = str(err.value).splitlines()
    assert "enmap_search, glerl_download" in header
    assert len(lines) == 2  # the missing DLR credentials, the GLERL host
    (creds,) = [line for line in lines if "no credentials for the DLR EnMAP download" in line]
    (glerl,) = [line for line in lines if "cannot reach https://www.glerl.noaa.gov/" in line]
    assert "samples.source: bundled" in glerl and "ENMAP_TOKEN" in creds
    monkeypatch.setenv("ENMAP_TOKEN", "tok")
    fake_http.replace(responses.HEAD, "https://www.glerl.noaa.gov/", status=200)
    checked = preflight.preflight(config, {"glerl_download", "enmap_search"})
    assert "DLR credentials from the environment variable ENMAP_TOKEN" in checked


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_on_a_refused_port_answers_at_once():
    url = f"http://127.0.0.1:{_closed_port()}/"
    t0 = time.monotonic()
    problems = preflight.unreachable([url], timeout_s=2, attempts=2, what="; try later")
    assert time.monotonic() - t0 < 5
    assert len(problems) == 1 and url in problems[0] and "ConnectionError" in problems[0]
    assert problems[0].endswith("; try later")


def test_unreachable_on_a_silent_host_times_out_quickly():
    """A host that accepts connections but never answers (a proxy that hangs): the timeout
    bounds the wait, where earthaccess's own login request has none."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    stop = threading.Event()
    accepted: list[socket.socket] = []

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.getsockname()[1]}/"
        t0 = time.monotonic()
        problems = preflight.unreachable([url], timeout_s=0.5, attempts=1)
        assert time.monotonic() - t0 < 3
        assert len(problems) == 1 and "Timeout" in problems[0]
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        server.close()
