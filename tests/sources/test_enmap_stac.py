"""DLR EOC STAC source (spectm.sources.enmap.stac) against faked HTTP, never the network.

pystac-client runs for real against the `responses` library serving the recorded-looking pages of
tests/data/enmap (written by make_fixtures.py); the assets are served from a demo product written
under the fixture's product name, so the downloaded product is read and chipped afterwards.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
import responses

from spectm.io.enmap_chips import make_enmap_chips
from spectm.io.enmap_l2a import product_file_name
from spectm.sources.enmap import fetch_product, read_product_manifest, stac, write_product_manifest
from spectm.sources.enmap.demo import write_demo_product
from spectm.sources.http import DownloadError

pytestmark = pytest.mark.filterwarnings("ignore::PendingDeprecationWarning")

DATA = Path(__file__).resolve().parents[1] / "data" / "enmap"
API = "https://geoservice.dlr.de/eoc/ogc/stac/v1"
BBOX = (-83.6, 41.3, -82.4, 42.2)
JULY = "ENMAP01-____L2A-DT0000088765_20240712T161958Z_002_V010502_20240713T080004Z"
AUGUST = "ENMAP01-____L2A-DT0000090001_20240805T162401Z_003_V010502_20240806T101530Z"
PASSWORD = "s3cr3t-Pa55word-xyz"
CREDENTIAL_VARS = ("ENMAP_USERNAME", "ENMAP_PASSWORD", "ENMAP_TOKEN", "NETRC")


@dataclass(frozen=True)
class Demo:
    shape: tuple[int, int] = (64, 64)
    seed: int = 0
    cloud_fraction: float = 0.0
    n_products: int = 1


@pytest.fixture(autouse=True)
def no_credentials(monkeypatch, tmp_path):
    """No credentials in the environment, an empty HOME."""
    for var in CREDENTIAL_VARS:
        monkeypatch.delenv(var, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    return home


@pytest.fixture
def fake_http():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.get(f"{API}/", json=json.loads((DATA / "stac_landing.json").read_text()))
        rsps.post(f"{API}/search", json=json.loads((DATA / "stac_search_page1.json").read_text()))
        rsps.get(
            re.compile(re.escape(f"{API}/search?token=page2")),
            json=json.loads((DATA / "stac_search_page2.json").read_text()),
        )
        yield rsps


@pytest.fixture(scope="module")
def july_files(tmp_path_factory) -> Path:
    """The demo product written under the July item's name (its files are served as assets)."""
    return write_demo_product(
        JULY, tmp_path_factory.mktemp("served") / JULY, shape=(64, 64), seed=5,
        cloud_fraction=0.0, centre_lonlat=(-83.1, 41.6), time_start="2024-07-12T16:19:58Z",
    )  # fmt: skip


def _manifest(tmp_path) -> Path:
    return write_product_manifest(
        tmp_path / "manifest.csv", source="stac", start="2024-07-01", end="2024-08-31",
        bbox=BBOX, max_products=None, demo_settings=Demo(), stac_url=f"{API}/",
        collection="ENMAP_HSI_L2A", local_dir=None,
    )  # fmt: skip


def _serve(rsps, manifest: Path, product: str, files: Path | None, body: bytes | None = None):
    row = read_product_manifest(manifest).set_index("product").loc[product]
    for kind, asset in json.loads(row["assets"]).items():
        content = body if body is not None else (files / product_file_name(product, kind))
        rsps.get(
            asset["href"], body=content if isinstance(content, bytes) else content.read_bytes()
        )


# --------------------------------------------------------------------------- search


def test_search_writes_a_manifest_of_complete_items(fake_http, tmp_path, caplog):
    with caplog.at_level(logging.WARNING):
        df = read_product_manifest(_manifest(tmp_path))
    assert df["product"].tolist() == [JULY, AUGUST]  # time order, duplicate dropped
    assert "DT0000091234" in caplog.text and "QL_PIXELMASK" in caplog.text  # item left out
    assert (df["source"] == "stac").all() and (df["collection"] == "ENMAP_HSI_L2A").all()
    assert df["time_start"].tolist() == ["2024-07-12T16:19:58Z", "2024-08-05T16:24:01Z"]
    assert df["url"][1] == f"{API}/collections/ENMAP_HSI_L2A/items/{AUGUST}"
    assert pd.isna(df["size_bytes"][0]) and df["size_bytes"][1] == 8000
    assert df[["west", "south", "east", "north"]].iloc[1].tolist() == [-83.45, 41.55, -83.05, 41.85]
    assets = json.loads(df["assets"][1])
    assert assets["SPECTRAL_IMAGE"]["href"].endswith(f"{AUGUST}-SPECTRAL_IMAGE.TIF")
    assert assets["METADATA"]["size"] == 1000
    assert "QL_VNIR" not in df["assets"][1]  # quicklook not taken
    body = json.loads(fake_http.calls[1].request.body)
    assert body["collections"] == ["ENMAP_HSI_L2A"] and body["bbox"] == list(BBOX)
    assert body["datetime"] == "2024-07-01T00:00:00Z/2024-08-31T23:59:59Z"
    assert "Authorization" not in fake_http.calls[1].request.headers  # the search is public


def test_search_without_results_is_an_error(tmp_path):
    with responses.RequestsMock() as rsps:
        rsps.get(f"{API}/", json=json.loads((DATA / "stac_landing.json").read_text()))
        rsps.post(f"{API}/search", json={"type": "FeatureCollection", "features": [], "links": []})
        with pytest.raises(RuntimeError, match=r"no EnMAP L2A products at .*ENMAP_HSI_L2A"):
            _manifest(tmp_path)


# --------------------------------------------------------------------------- credentials


def _fetch(tmp_path, manifest, product=JULY):
    return fetch_product(
        manifest, product, root=tmp_path / "products", source="stac", retries=0,
        demo_settings=Demo(),
    )  # fmt: skip


def test_download_with_credentials_from_the_environment(
    fake_http, tmp_path, july_files, monkeypatch, caplog
):
    manifest = _manifest(tmp_path)
    _serve(fake_http, manifest, JULY, july_files)
    monkeypatch.setenv("ENMAP_USERNAME", "tester")
    monkeypatch.setenv("ENMAP_PASSWORD", PASSWORD)
    with caplog.at_level(logging.DEBUG):
        folder = _fetch(tmp_path, manifest)
    assert folder == tmp_path / "products" / JULY
    for p in july_files.iterdir():
        if "LABELS" in p.name or "TARGET" in p.name:
            assert not (folder / p.name).exists()  # not STAC assets
        else:
            assert (folder / p.name).read_bytes() == p.read_bytes()
    downloads = [c for c in fake_http.calls if "download.geoservice" in c.request.url]
    assert len(downloads) == 8
    expected = "Basic " + base64.b64encode(f"tester:{PASSWORD}".encode()).decode()
    assert all(c.request.headers["Authorization"] == expected for c in downloads)
    assert PASSWORD not in caplog.text
    chips = make_enmap_chips(folder, tmp_path / "chips", size=32, bands=[10, 50, 100])
    assert len(chips) == 4


def test_download_with_a_token(fake_http, tmp_path, july_files, monkeypatch):
    manifest = _manifest(tmp_path)
    _serve(fake_http, manifest, JULY, july_files)
    monkeypatch.setenv("ENMAP_TOKEN", "tok-123")
    _fetch(tmp_path, manifest)
    downloads = [c for c in fake_http.calls if "download.geoservice" in c.request.url]
    assert downloads and all(
        c.request.headers["Authorization"] == "Bearer tok-123" for c in downloads
    )


def test_download_with_credentials_from_netrc(fake_http, tmp_path, july_files, no_credentials):
    manifest = _manifest(tmp_path)
    _serve(fake_http, manifest, JULY, july_files)
    netrc = no_credentials / ".netrc"
    netrc.write_text(f"machine geoservice.dlr.de login netrcuser password {PASSWORD}\n")
    netrc.chmod(0o600)
    creds = stac.credentials("download.geoservice.dlr.de")  # falls back to geoservice.dlr.de
    assert creds.kind == "basic" and creds.user == "netrcuser" and PASSWORD not in repr(creds)
    _fetch(tmp_path, manifest)
    expected = "Basic " + base64.b64encode(f"netrcuser:{PASSWORD}".encode()).decode()
    downloads = [c for c in fake_http.calls if "download.geoservice" in c.request.url]
    assert downloads and all(c.request.headers["Authorization"] == expected for c in downloads)


def test_no_credentials_is_a_clear_error_before_any_download(fake_http, tmp_path, no_credentials):
    manifest = _manifest(tmp_path)
    n_calls = len(fake_http.calls)
    with pytest.raises(stac.EnmapCredentialsError) as err:
        _fetch(tmp_path, manifest)
    msg = str(err.value)
    assert "ENMAP_USERNAME" in msg and "ENMAP_TOKEN" in msg and "machine geoservice.dlr.de" in msg
    assert str(no_credentials / ".netrc") in msg and "never" in msg
    assert len(fake_http.calls) == n_calls
    netrc = no_credentials / ".netrc"
    netrc.write_text(f"machine geoservice.dlr.de login u password {PASSWORD} extra\n")
    with pytest.raises(
        stac.EnmapCredentialsError, match=r"cannot parse netrc .*\(line \d+\)"
    ) as err:
        stac.credentials()
    assert PASSWORD not in str(err.value)


# --------------------------------------------------------------------------- failures


def test_login_page_instead_of_a_file_is_refused(fake_http, tmp_path, monkeypatch):
    manifest = _manifest(tmp_path)
    _serve(fake_http, manifest, JULY, None, body=b"<!DOCTYPE html><html>EOC login</html>")
    monkeypatch.setenv("ENMAP_TOKEN", "tok")
    with pytest.raises(stac.EnmapDownloadError, match="HTML login or error page"):
        _fetch(tmp_path, manifest)
    assert not any((tmp_path / "products" / JULY).glob("*.TIF"))


def test_size_mismatch_fails_and_a_complete_file_is_kept(fake_http, tmp_path, monkeypatch):
    manifest = _manifest(tmp_path)  # the August item announces 1000 B per file
    _serve(fake_http, manifest, AUGUST, None, body=b"II*\x00" + b"0" * 10)
    monkeypatch.setenv("ENMAP_TOKEN", "tok")
    with pytest.raises(DownloadError, match="size mismatch"):
        _fetch(tmp_path, manifest, AUGUST)
    folder = tmp_path / "products" / AUGUST
    assert not any(folder.iterdir())  # nothing half-written
    # files of the announced size are kept without a request
    for kind in ("SPECTRAL_IMAGE", "METADATA", "QL_PIXELMASK", "QL_QUALITY_CLOUD"):
        (folder / product_file_name(AUGUST, kind)).write_bytes(b"x" * 1000)
    n_calls = len(fake_http.calls)
    with pytest.raises(DownloadError):  # the other quality layers are still fetched (and fail)
        _fetch(tmp_path, manifest, AUGUST)
    urls = [c.request.url for c in fake_http.calls[n_calls:]]
    assert urls and not any("SPECTRAL_IMAGE" in u or "METADATA" in u for u in urls)
