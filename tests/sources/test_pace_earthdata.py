"""NASA Earthdata access (spectm.sources.pace.earthdata) against faked HTTP, never the network.

The real earthaccess code runs: CMR search, Earthdata Login token exchange and the authenticated
session are served by the `responses` library from recorded-looking UMM-G records
(tests/data/earthdata, written by make_fixtures.py).
"""

from __future__ import annotations

import base64
import json
import logging
import re
from pathlib import Path

import earthaccess
import pandas as pd
import pytest
import requests
import responses
from earthaccess.auth import Auth

from spectm.sources.pace import earthdata

DATA = Path(__file__).resolve().parents[1] / "data" / "earthdata"
CMR = re.compile(r"https://cmr\.earthdata\.nasa\.gov/search/granules\.umm_json.*")
EDL_TOKEN = "https://urs.earthdata.nasa.gov/api/users/find_or_create_token"
EDL_PROFILE = "https://urs.earthdata.nasa.gov/profile"
TEA = "https://obdaac-tea.earthdatacloud.nasa.gov/ob-cumulus-prod-public"
PASSWORD = "s3cr3t-Pa55word-xyz"
# earthaccess's own DataGranule constructor calls its deprecated size(); not our warning
pytestmark = pytest.mark.filterwarnings("ignore:As of version 1.0:FutureWarning")

CREDENTIAL_VARS = ("EARTHDATA_USERNAME", "EARTHDATA_PASSWORD", "EARTHDATA_TOKEN", "NETRC")


@pytest.fixture(autouse=True)
def fresh_earthaccess(monkeypatch, tmp_path):
    """A logged-out earthaccess, no credentials in the environment, an empty HOME."""
    monkeypatch.setattr(earthaccess, "_auth", Auth())
    monkeypatch.setattr(earthaccess, "_store", None)
    # earthaccess.login() sets a real module attribute __store__ (shadowing its __getattr__)
    vars(earthaccess).pop("__store__", None)
    for var in CREDENTIAL_VARS:
        monkeypatch.delenv(var, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    yield home
    vars(earthaccess).pop("__store__", None)


@pytest.fixture
def fake_http():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


def _cmr_page() -> dict:
    return json.loads((DATA / "cmr_granules_pace_oci_l2_aop.json").read_text())


def _serve_edl(rsps, *, token_status=200):
    rsps.post(
        EDL_TOKEN,
        status=token_status,
        json={
            "access_token": "edl-token-abc",
            "token_type": "Bearer",
            "expiration_date": "12/31/2030",
        }
        if token_status == 200
        else {"error": "invalid_credentials", "error_description": "Invalid user credentials"},
    )
    rsps.get(EDL_PROFILE, json={"uid": "tester"})


# --------------------------------------------------------------------------------- search


def test_search_returns_manifest_from_cmr_records(fake_http):
    page = _cmr_page()
    fake_http.get(CMR, json=page, headers={"CMR-Hits": str(page["hits"])})

    df = earthdata.search_granules(
        start="2024-03-01", end="2024-05-31", bbox=(-83.5, 41.3, -82.45, 42.2)
    )

    assert list(df.columns) == list(earthdata.MANIFEST_COLUMNS)
    # duplicate dropped, the BGC file filtered, sorted by time (March before May)
    assert df["granule"].tolist() == [
        "PACE_OCI.20240316T180334.L2.OC_AOP.V3_1.nc",
        "PACE_OCI.20240520T180624.L2.OC_AOP.V3_1.nc",
    ]
    assert df["url"].tolist() == [f"{TEA}/{g}" for g in df["granule"]]
    # exact size from SizeInBytes; rounded MB otherwise, with its tolerance
    march, may = df.iloc[0], df.iloc[1]
    assert may["size_bytes"] == 187245319 and may["size_tolerance_bytes"] == 0
    assert march["size_bytes"] == round(164.92 * 2**20)
    assert march["size_tolerance_bytes"] == earthdata.rounded_size_tolerance(
        round(164.92 * 2**20), "MB"
    )
    assert 0.045 * march["size_bytes"] < march["size_tolerance_bytes"] < 0.06 * march["size_bytes"]
    assert march["time_start"] == "2024-03-16T18:03:34Z"
    assert march["time_end"] == "2024-03-16T18:08:33Z"
    assert set(df["version"]) == {"3.1"} and set(df["short_name"]) == {"PACE_OCI_L2_AOP"}
    assert set(df["provider"]) == {"OB_CLOUD"} and set(df["day_night"]) == {"Day"}
    assert may["concept_id"] == "G3300000002-OB_CLOUD"

    # the CMR query carried every search parameter, with an inclusive end day
    urls = [c.request.url for c in fake_http.calls if "cmr.earthdata" in c.request.url]
    query = requests.utils.unquote(urls[-1])
    for part in (
        "short_name=PACE_OCI_L2_AOP",
        "version=3.1",
        "provider=OB_CLOUD",
        "temporal[]=2024-03-01T00:00:00Z,2024-05-31T23:59:59Z",
        "bounding_box=-83.5,41.3,-82.45,42.2",
    ):
        assert part in query


def test_search_with_no_results_gives_empty_manifest(fake_http):
    fake_http.get(CMR, json={"hits": 0, "took": 1, "items": []}, headers={"CMR-Hits": "0"})
    df = earthdata.search_granules(
        start="2024-01-01", end="2024-01-02", bbox=(-83.5, 41.3, -82.45, 42.2)
    )
    assert df.empty and list(df.columns) == list(earthdata.MANIFEST_COLUMNS)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"bbox": (-82.0, 41.3, -83.5, 42.2)}, "bbox"),
        ({"start": "2024-06-01", "end": "2024-05-01"}, "after end"),
    ],
)
def test_search_rejects_bad_arguments(kwargs, match):
    args = {"start": "2024-03-01", "end": "2024-05-31", "bbox": (-83.5, 41.3, -82.45, 42.2)}
    with pytest.raises(ValueError, match=match):
        earthdata.search_granules(**{**args, **kwargs})


def test_manifest_roundtrip_and_schema_errors(fake_http, tmp_path):
    page = _cmr_page()
    fake_http.get(CMR, json=page, headers={"CMR-Hits": str(page["hits"])})
    df = earthdata.search_granules(
        start="2024-03-01", end="2024-05-31", bbox=(-83.5, 41.3, -82.45, 42.2)
    )
    path = earthdata.write_manifest(df, tmp_path / "manifest.csv")
    back = earthdata.read_manifest(path)
    pd.testing.assert_frame_equal(back[df.columns.tolist()], df, check_dtype=False)
    assert back["version"].tolist() == ["3.1", "3.1"]  # kept as text, not the float 3.1

    df.drop(columns="url").to_csv(tmp_path / "no_url.csv", index=False)
    with pytest.raises(ValueError, match=r"no_url\.csv.*'url'"):
        earthdata.read_manifest(tmp_path / "no_url.csv")

    bad = df.copy()
    bad["size_bytes"] = bad["size_bytes"].astype(object)
    bad.loc[1, "size_bytes"] = "12.5MB"
    bad.to_csv(tmp_path / "bad_size.csv", index=False)
    with pytest.raises(ValueError, match=r"bad_size\.csv.*'size_bytes' row 1"):
        earthdata.read_manifest(tmp_path / "bad_size.csv")


# --------------------------------------------------------------------------------- login


def test_login_without_credentials_explains_both_options(fresh_earthaccess, monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("earthaccess.login must not be reached without credentials")

    monkeypatch.setattr(earthaccess, "login", never)
    with pytest.raises(earthdata.EarthdataLoginError) as err:
        earthdata.login()
    text = str(err.value)
    assert "EARTHDATA_TOKEN" in text and "EARTHDATA_USERNAME" in text
    assert str(fresh_earthaccess / ".netrc") in text and "urs.earthdata.nasa.gov" in text
    # only a username is not enough for the environment strategy
    monkeypatch.setenv("EARTHDATA_USERNAME", "someone")
    with pytest.raises(earthdata.EarthdataLoginError):
        earthdata.login("environment")
    with pytest.raises(ValueError, match="interactive"):
        earthdata.login("interactive")


def test_login_with_token_from_environment(monkeypatch, fake_http):
    monkeypatch.setenv("EARTHDATA_TOKEN", "tok-from-env")
    fake_http.get(EDL_PROFILE, json={"uid": "tester"})
    auth = earthdata.login()
    assert auth.authenticated
    session = earthaccess.get_requests_https_session()
    assert session.headers["Authorization"] == "Bearer tok-from-env"


def test_login_with_password_never_reveals_it(monkeypatch, fake_http, caplog, capsys, tmp_path):
    monkeypatch.setenv("EARTHDATA_USERNAME", "tester")
    monkeypatch.setenv("EARTHDATA_PASSWORD", PASSWORD)
    caplog.set_level(logging.DEBUG)
    _serve_edl(fake_http)
    auth = earthdata.login()
    assert auth.authenticated
    assert (
        earthaccess.get_requests_https_session().headers["Authorization"] == "Bearer edl-token-abc"
    )

    # rejected credentials: a clear error, still without the secret
    monkeypatch.setattr(earthaccess, "_auth", Auth())
    fake_http.replace(responses.POST, EDL_TOKEN, status=401, json={"error": "invalid_credentials"})
    with pytest.raises(earthdata.EarthdataLoginError, match="rejected") as err:
        earthdata.login("environment")

    logged = caplog.text + " ".join(str(r.args) for r in caplog.records)
    out = capsys.readouterr()
    assert PASSWORD not in logged
    assert PASSWORD not in str(err.value) and PASSWORD not in repr(err.value)
    assert PASSWORD not in out.out + out.err
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert all(PASSWORD not in p.read_text(errors="ignore") for p in written)


def test_login_from_netrc_in_home(fresh_earthaccess, fake_http, caplog):
    netrc = fresh_earthaccess / ".netrc"
    netrc.write_text(f"machine urs.earthdata.nasa.gov login netrc-user password {PASSWORD}\n")
    netrc.chmod(0o600)
    caplog.set_level(logging.DEBUG)
    _serve_edl(fake_http)
    assert earthdata.login().authenticated
    token_calls = [c for c in fake_http.calls if c.request.url == EDL_TOKEN]
    basic = base64.b64encode(f"netrc-user:{PASSWORD}".encode()).decode()
    assert token_calls[0].request.headers["Authorization"] == f"Basic {basic}"
    assert PASSWORD not in caplog.text


def test_login_reports_unparseable_netrc_without_its_content(fresh_earthaccess):
    netrc = fresh_earthaccess / ".netrc"
    netrc.write_text(f"machine urs.earthdata.nasa.gov login u password {PASSWORD} extra\n")
    with pytest.raises(earthdata.EarthdataLoginError, match=r"\.netrc \(line \d+\)") as err:
        earthdata.login("netrc")
    assert PASSWORD not in str(err.value)


# --------------------------------------------------------------------------------- download

GRANULE = "PACE_OCI.20240520T180624.L2.OC_AOP.V3_1.nc"
URL = f"{TEA}/{GRANULE}"
BODY = bytes(range(256)) * 40  # 10,240 bytes
NC = "application/x-netcdf"


def _row(size=None, tol=0):
    size = len(BODY) if size is None else size
    return pd.Series(
        {"granule": GRANULE, "url": URL, "size_bytes": size, "size_tolerance_bytes": tol}
    )


def _no_temp_files(folder: Path) -> bool:
    return not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_download_retries_then_succeeds(fake_http, tmp_path):
    fake_http.get(URL, body=requests.exceptions.ConnectionError("reset by peer"))
    fake_http.get(URL, status=503)
    fake_http.get(URL, body=BODY, content_type=NC, auto_calculate_content_length=True)
    out = earthdata.download_granule(
        _row(), tmp_path / GRANULE, retries=3, backoff_s=0, session_factory=requests.Session
    )
    assert out.read_bytes() == BODY
    assert len(fake_http.calls) == 3
    assert _no_temp_files(tmp_path)


def test_download_truncated_transfer_is_retried(fake_http, tmp_path):
    fake_http.get(
        URL, body=BODY[:1000], content_type=NC, headers={"Content-Length": str(len(BODY))}
    )
    fake_http.get(URL, body=BODY, content_type=NC, auto_calculate_content_length=True)
    out = earthdata.download_granule(
        _row(), tmp_path / GRANULE, backoff_s=0, session_factory=requests.Session
    )
    assert out.read_bytes() == BODY and len(fake_http.calls) == 2


def test_download_gives_up_after_retries(fake_http, tmp_path):
    fake_http.get(URL, status=503)
    with pytest.raises(earthdata.EarthdataDownloadError, match="3 attempts"):
        earthdata.download_granule(
            _row(), tmp_path / GRANULE, retries=2, backoff_s=0, session_factory=requests.Session
        )
    assert len(fake_http.calls) == 3
    assert not (tmp_path / GRANULE).exists() and _no_temp_files(tmp_path)


def test_download_size_mismatch_fails_and_leaves_no_file(fake_http, tmp_path):
    fake_http.get(URL, body=BODY[:-10], content_type=NC, auto_calculate_content_length=True)
    with pytest.raises(earthdata.EarthdataDownloadError, match=r"manifest says 10240 B"):
        earthdata.download_granule(
            _row(), tmp_path / GRANULE, backoff_s=0, session_factory=requests.Session
        )
    assert len(fake_http.calls) == 1  # a complete file of the wrong size is not retried
    assert not (tmp_path / GRANULE).exists() and _no_temp_files(tmp_path)


def test_download_accepts_rounded_size_within_tolerance(fake_http, tmp_path):
    fake_http.get(URL, body=BODY[:-10], content_type=NC, auto_calculate_content_length=True)
    out = earthdata.download_granule(
        _row(tol=64), tmp_path / GRANULE, session_factory=requests.Session
    )
    assert out.stat().st_size == len(BODY) - 10


def test_existing_file_with_wrong_size_is_downloaded_again(fake_http, tmp_path):
    dest = tmp_path / GRANULE
    dest.write_bytes(BODY[:500])  # an interrupted earlier download with the final name
    fake_http.get(URL, body=BODY, content_type=NC, auto_calculate_content_length=True)
    earthdata.download_granule(_row(), dest, session_factory=requests.Session)
    assert dest.read_bytes() == BODY and len(fake_http.calls) == 1


def test_existing_file_with_manifest_size_is_kept(fake_http, tmp_path):
    dest = tmp_path / GRANULE
    dest.write_bytes(BODY)
    # dest is a directory
    out = earthdata.download_granule(_row(), tmp_path, session_factory=requests.Session)
    assert out == dest and len(fake_http.calls) == 0


def test_download_auth_failure_and_login_page_are_not_retried(fake_http, tmp_path):
    fake_http.get(URL, status=401)
    with pytest.raises(earthdata.EarthdataDownloadError, match="401"):
        earthdata.download_granule(
            _row(), tmp_path / GRANULE, backoff_s=0, session_factory=requests.Session
        )
    fake_http.replace(
        responses.GET, URL, body="<html>Earthdata Login</html>", content_type="text/html"
    )
    with pytest.raises(earthdata.EarthdataDownloadError, match="HTML"):
        earthdata.download_granule(
            _row(), tmp_path / GRANULE, backoff_s=0, session_factory=requests.Session
        )
    assert len(fake_http.calls) == 2
    assert not (tmp_path / GRANULE).exists()


def test_download_uses_earthaccess_session_after_login(monkeypatch, fake_http, tmp_path):
    monkeypatch.setenv("EARTHDATA_TOKEN", "tok-from-env")
    fake_http.get(EDL_PROFILE, json={"uid": "tester"})
    fake_http.get(URL, body=BODY, content_type=NC, auto_calculate_content_length=True)
    # not logged in yet: download_granule logs in
    out = earthdata.download_granule(URL, tmp_path / GRANULE, expected_size_bytes=len(BODY))
    assert out.read_bytes() == BODY
    data_calls = [c for c in fake_http.calls if c.request.url == URL]
    assert data_calls[0].request.headers["Authorization"] == "Bearer tok-from-env"


# ---------------------------------------------------------------------- one product per overpass


def _renamed(item: dict, old: str, new: str) -> dict:
    """A copy of a CMR item for the file ``new`` instead of ``old`` (names, links, sizes)."""
    return json.loads(json.dumps(item).replace(old, new))


def test_earthdata_manifest_keeps_the_refined_granule_of_an_overpass(
    monkeypatch, fake_http, tmp_path, caplog
):
    """Search results with a refined and an NRT file of one overpass: the manifest lists the
    refined file and records the NRT one as superseded; an NRT-only overpass stays."""
    from spectm.sources import pace

    page = _cmr_page()
    march = "PACE_OCI.20240316T180334.L2.OC_AOP.V3_1.nc"
    item = next(i for i in page["items"] if i["umm"]["GranuleUR"] == march)
    march_nrt = march.replace(".nc", ".NRT.nc")
    june_nrt = "PACE_OCI.20240616T172214.L2.OC_AOP.V3_1.NRT.nc"
    nrt_items = [_renamed(item, march, march_nrt), _renamed(item, march, june_nrt)]
    nrt_items[1] = _renamed(nrt_items[1], "2024-03-16T18:0", "2024-06-16T17:2")
    page["items"] = nrt_items[:1] + page["items"] + nrt_items[1:]  # NRT listed first
    page["hits"] = len(page["items"])
    fake_http.get(CMR, json=page, headers={"CMR-Hits": str(page["hits"])})
    monkeypatch.setenv("EARTHDATA_TOKEN", "tok-from-env")
    fake_http.get(EDL_PROFILE, json={"uid": "tester"})
    caplog.set_level(logging.INFO, logger="spectm.sources.pace")

    path = pace.write_granule_manifest(
        tmp_path / "manifest.csv", source="earthdata", short_name="PACE_OCI_L2_AOP",
        version="3.1", provider="OB_CLOUD", start="2024-03-01", end="2024-06-30",
        bbox=(-83.5, 41.3, -82.45, 42.2),
    )  # fmt: skip
    m = earthdata.read_manifest(path)
    assert m["granule"].tolist() == [march, "PACE_OCI.20240520T180624.L2.OC_AOP.V3_1.nc", june_nrt]
    assert m[pace.SUPERSEDES].fillna("").tolist() == [march_nrt, "", ""]
    assert m["url"].iloc[0] == f"{TEA}/{march}"
    assert f"{march_nrt} is superseded by {march}" in caplog.text
    # the workflow's granule list (workflow/rules/common.smk) reads the granule column only
    assert march_nrt not in set(pd.read_csv(path)["granule"])
