"""EnMAP L2A products from the DLR EOC STAC API: search (manifest) and download.

1. :func:`search_products` searches the collection ``ENMAP_HSI_L2A`` of the DLR EOC STAC API
   (:data:`DLR_STAC_URL`) with ``pystac-client`` (bbox, datetime, max items) and returns one
   manifest row per item, with the item's product-file assets (spectral image, metadata XML,
   quality layers) as JSON. Assets are recognised by the file name of their ``href``
   (``…-SPECTRAL_IMAGE.TIF``, ``…-METADATA.XML``, ``…-QL_*.TIF``), or, for the spectral image
   and metadata, by the asset keys ``image`` and ``metadata``. Items lacking a required file are
   left out (logged).
2. :func:`download_product` downloads one product's assets with
   :func:`spectm.sources.http.download_file` (sized when the asset gives ``file:size``, retried,
   atomic) into a directory, as ``<product>-<KIND>.TIF``/``.XML``; a file already there with
   the announced size is kept.

Credentials (downloads need an EOC account with the EnMAP permission; the search is public), from
the environment or a netrc file only, never interactively, never logged:
``ENMAP_TOKEN`` (sent as a bearer token), else ``ENMAP_USERNAME`` + ``ENMAP_PASSWORD`` (HTTP basic),
else the netrc file (``$NETRC`` or ``~/.netrc``) entry for the asset's host or
``machine geoservice.dlr.de`` (HTTP basic).
"""

from __future__ import annotations

import json
import logging
import netrc
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pandas as pd
import requests

from spectm.io.enmap_l2a import (
    METADATA,
    QUALITY_LAYERS,
    REQUIRED_QUALITY_LAYERS,
    SPECTRAL_IMAGE,
    find_product,
    product_file_name,
    split_file_name,
)
from spectm.sources.http import download_file, pause_before_retry

log = logging.getLogger(__name__)

DLR_STAC_URL = "https://geoservice.dlr.de/eoc/ogc/stac/v1/"
"""The DLR EOC STAC API."""
COLLECTION = "ENMAP_HSI_L2A"
"""The EnMAP HSI L2A collection."""
NETRC_MACHINE = "geoservice.dlr.de"
"""netrc ``machine`` looked up when the asset's own host has no entry."""
REQUIRED_KINDS: tuple[str, ...] = (SPECTRAL_IMAGE, METADATA, *REQUIRED_QUALITY_LAYERS)
"""Product files an item must offer."""
_KINDS = (SPECTRAL_IMAGE, METADATA, *QUALITY_LAYERS)
_KEY_KINDS = {"image": SPECTRAL_IMAGE, "metadata": METADATA}
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_AUTH_HINT = (
    "check the DLR credentials (ENMAP_TOKEN, or ENMAP_USERNAME + ENMAP_PASSWORD, or the netrc "
    f"entry for {NETRC_MACHINE}) and that the EOC account has the EnMAP data permission"
)


class EnmapCredentialsError(RuntimeError):
    """No usable credentials for the DLR download (the message explains the options)."""


class EnmapDownloadError(RuntimeError):
    """A product could not be downloaded completely; the message names the file or item."""


class EnmapSearchError(RuntimeError):
    """The STAC search failed (unreachable, refused or a server error after the retries)."""


# --------------------------------------------------------------------------- credentials


@dataclass(frozen=True)
class Credentials:
    """Credentials for the DLR download (``repr`` hides the secret).

    Attributes:
        kind: ``"token"`` (bearer) or ``"basic"`` (user and password).
        source: Where they came from (for messages: never the secret).
        user: User name (basic).
        secret: Token or password.
    """

    kind: str
    source: str
    user: str = ""
    secret: str = ""

    def __repr__(self) -> str:
        return f"Credentials(kind={self.kind!r}, source={self.source!r}, user={self.user!r})"


def netrc_file() -> Path:
    """The netrc file read: ``$NETRC`` when set, else ``~/.netrc``."""
    env = os.environ.get("NETRC")
    return Path(env) if env else Path.home() / ".netrc"


def credentials(host: str = NETRC_MACHINE) -> Credentials:
    """Find credentials for the DLR download, non-interactively.

    Args:
        host: Host of the files; its netrc entry is preferred over :data:`NETRC_MACHINE`.

    Returns:
        From ``ENMAP_TOKEN``; else ``ENMAP_USERNAME`` + ``ENMAP_PASSWORD``; else the netrc file.

    Raises:
        EnmapCredentialsError: when none is found, or the netrc file cannot be parsed (the
            message names the file and line, never its content).
    """
    token = os.environ.get("ENMAP_TOKEN")
    if token:
        return Credentials("token", "environment variable ENMAP_TOKEN", secret=token)
    user, password = os.environ.get("ENMAP_USERNAME"), os.environ.get("ENMAP_PASSWORD")
    if user and password:
        return Credentials(
            "basic", "environment variables ENMAP_USERNAME/ENMAP_PASSWORD", user, password
        )
    path = netrc_file()
    if path.is_file():
        try:
            parsed = netrc.netrc(str(path))
        except netrc.NetrcParseError as err:
            raise EnmapCredentialsError(
                f"cannot parse netrc file {path} (line {err.lineno}); fix it or set "
                "ENMAP_TOKEN or ENMAP_USERNAME + ENMAP_PASSWORD"
            ) from None
        for machine in dict.fromkeys((host, NETRC_MACHINE)):
            entry = parsed.authenticators(machine)
            if entry is not None and entry[0] and entry[2]:
                where = f"netrc file {path} (machine {machine})"
                return Credentials("basic", where, entry[0], entry[2])
    raise EnmapCredentialsError(
        "no credentials for the DLR EnMAP download: set the environment variable ENMAP_TOKEN, or "
        "ENMAP_USERNAME and ENMAP_PASSWORD (an EOC geoservice account with the EnMAP "
        f"permission), or add 'machine {NETRC_MACHINE} login <user> password <pass>' to the "
        f"netrc file {path} (chmod 600; the NETRC variable can point elsewhere). "
        "Interactive login is never used."
    )


def authenticated_session(creds: Credentials) -> requests.Session:
    """A ``requests`` session that sends ``creds`` (bearer token or HTTP basic)."""
    session = requests.Session()
    if creds.kind == "token":
        session.headers["Authorization"] = f"Bearer {creds.secret}"
    else:
        session.auth = (creds.user, creds.secret)
    return session


# --------------------------------------------------------------------------- search


def _file_name(href: str) -> str:
    return unquote(Path(urlparse(href).path).name)


def _assets(item_id: str, assets: Mapping[str, Any]) -> tuple[str, dict[str, dict[str, Any]]]:
    """Product name and ``{kind: {"href", "size"}}`` of an item's product-file assets."""
    found: dict[str, dict[str, Any]] = {}
    product = None
    for key, asset in assets.items():
        href = str(asset.get("href", ""))
        parts = split_file_name(_file_name(href))
        kind = parts[1] if parts is not None else _KEY_KINDS.get(str(key).lower())
        if kind not in _KINDS or kind in found:
            continue
        size = asset.get("file:size")
        found[kind] = {"href": href, "size": int(size) if size is not None else None}
        if kind == SPECTRAL_IMAGE and parts is not None:
            product = parts[0]
    return product or item_id, found


def _iso(value: Any) -> str:
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def search_products(
    *,
    url: str,
    collection: str,
    start: str,
    end: str,
    bbox: Sequence[float],
    max_items: int | None = None,
    retries: int = 3,
    backoff_s: float = 2.0,
    timeout_s: float = 30.0,
) -> pd.DataFrame:
    """Search the STAC API for L2A products in a period and AOI.

    Args:
        url: STAC API root (:data:`DLR_STAC_URL`).
        collection: Collection id (:data:`COLLECTION`).
        start: First day (``YYYY-MM-DD``, UTC, inclusive).
        end: Last day (inclusive).
        bbox: (west, south, east, north), degrees.
        max_items: Stop after this many items (None: all).
        retries: Further attempts of the whole search after a connection error, a timeout or
            an HTTP 5xx / 429 answer.
        backoff_s: Wait before retry ``k`` is ``backoff_s * 2 ** (k - 1)`` seconds.
        timeout_s: Connect and read timeout per request, seconds.

    Returns:
        One row per item with the required assets, sorted by ``time_start``: ``product``,
        ``url`` (the item's self link, else its id), ``time_start``/``time_end`` (UTC),
        ``west``/``south``/``east``/``north`` (the item bbox), ``collection``, ``size_bytes``
        (sum of known asset sizes, nullable) and ``assets`` (JSON ``{kind: {href, size}}``).

    Raises:
        EnmapSearchError: the API was unreachable or answered with an error (the message names
            the URL and what to do).
    """
    west, south, east, north = (float(v) for v in bbox)
    period = f"{start}T00:00:00Z/{end}T23:59:59Z"
    items = _search_items(
        url, collection, [west, south, east, north], period, max_items,
        retries=retries, backoff_s=backoff_s, timeout_s=timeout_s,
    )  # fmt: skip
    rows = []
    for item in items:
        product, assets = _assets(item.id, {k: a.to_dict() for k, a in item.assets.items()})
        missing = [k for k in REQUIRED_KINDS if k not in assets]
        if missing:
            log.warning(
                "STAC item %s lacks the product files %s (assets: %s); left out",
                item.id, missing, sorted(item.assets),
            )  # fmt: skip
            continue
        props = item.properties
        t0 = props.get("start_datetime") or props.get("datetime")
        t1 = props.get("end_datetime") or t0
        if t0 is None:
            log.warning("STAC item %s has no datetime; left out", item.id)
            continue
        self_link = item.get_self_href()
        sizes = [a["size"] for a in assets.values()]
        box = item.bbox or [float("nan")] * 4
        rows.append(
            {
                "product": product,
                "url": self_link or item.id,
                "time_start": _iso(t0),
                "time_end": _iso(t1),
                "west": float(box[0]),
                "south": float(box[1]),
                "east": float(box[2]),
                "north": float(box[3]),
                "collection": item.collection_id or collection,
                "size_bytes": None if None in sizes else int(sum(sizes)),
                "assets": json.dumps(assets, sort_keys=True),
            }
        )
    df = pd.DataFrame(
        rows,
        columns=[
            "product", "url", "time_start", "time_end", "west", "south", "east", "north",
            "collection", "size_bytes", "assets",
        ],
    )  # fmt: skip
    df["size_bytes"] = df["size_bytes"].astype("Int64")
    n = len(df)
    df = df.drop_duplicates("product").sort_values(["time_start", "product"], ignore_index=True)
    log.info(
        "STAC %s %s %s bbox %s: %d products (%d duplicates dropped)",
        url, collection, period, [west, south, east, north], len(df), n - len(df),
    )  # fmt: skip
    return df


def _search_items(
    url: str,
    collection: str,
    bbox: list[float],
    period: str,
    max_items: int | None,
    *,
    retries: int,
    backoff_s: float,
    timeout_s: float,
) -> list[Any]:
    """The STAC items of one search, retrying the whole search on transient failures."""
    from pystac_client import Client  # imported only by this source
    from pystac_client.exceptions import APIError
    from pystac_client.stac_api_io import StacApiIO

    last = ""
    for attempt in range(retries + 1):
        if attempt:
            pause_before_retry(attempt, backoff_s, f"STAC search at {url}", last, log)
        try:
            # retries are this loop's (pystac-client's own retry connection errors 5 times)
            io = StacApiIO(timeout=timeout_s, max_retries=None)
            client = Client.open(url, stac_io=io, timeout=timeout_s)
            search = client.search(
                collections=[collection],
                bbox=bbox,
                datetime=period,
                max_items=max_items,
            )
            return list(search.items())
        except APIError as err:
            status = getattr(err, "status_code", None)
            last = _short(f"HTTP {status}: {err}" if status else f"{err}")
            if status is not None and status < 500 and status != 429:
                what = (
                    "check enmap.stac_url and enmap.collection"
                    if status in (400, 404)
                    else "the search is public; check enmap.stac_url"
                )
                raise EnmapSearchError(
                    f"STAC search at {url} (collection {collection}) refused: {last}; {what}"
                ) from None
        except requests.RequestException as err:
            last = _short(f"{type(err).__name__}: {err}")
    raise EnmapSearchError(
        f"STAC search at {url} (collection {collection}) failed after {retries + 1} "
        f"attempt(s): {last}. Check the network connection (proxy, firewall) and enmap.stac_url, "
        "or try again later; enmap.source: demo runs offline"
    )


def _short(text: str, limit: int = 300) -> str:
    """``text`` on one line, cut to ``limit`` characters (an error page can be long)."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


# --------------------------------------------------------------------------- download


def _check_magic(path: Path, href: str) -> None:
    """Reject an HTML login page (or other non-product body) saved under a product name."""
    with path.open("rb") as fh:
        head = fh.read(64)
    if path.suffix.upper() == ".TIF":
        ok = head.startswith(_TIFF_MAGIC)
    else:
        text = head.lstrip().lower()
        ok = text.startswith(b"<") and not text.startswith((b"<!doctype html", b"<html"))
    if not ok:
        path.unlink()
        raise EnmapDownloadError(
            f"{href} did not return a {path.suffix.upper()[1:]} file (starts with {head[:8]!r}); "
            "an HTML login or error page? Check the credentials and the EnMAP permission of the "
            "account"
        )


def download_product(
    row: Mapping[str, Any],
    out_dir: str | os.PathLike[str],
    *,
    retries: int,
    session: requests.Session | None = None,
    backoff_s: float = 2.0,
) -> Path:
    """Download one product's files into ``out_dir``.

    Args:
        row: A manifest row of :func:`search_products` (``product``, ``assets``).
        out_dir: The product directory (created).
        retries: Extra attempts per file for transient failures.
        session: An authenticated session; default: from :func:`credentials`.
        backoff_s: Wait before retry ``k`` is ``backoff_s * 2 ** (k - 1)`` seconds.

    Returns:
        ``out_dir``, holding ``<product>-<KIND>.TIF``/``.XML`` for every asset.

    Raises:
        EnmapCredentialsError: without credentials (before any request).
        EnmapDownloadError: for a row without required assets or a body that is not the file.
        spectm.sources.http.DownloadError: for a failed or mis-sized transfer.
    """
    product = str(row["product"])
    try:
        assets: dict[str, dict[str, Any]] = json.loads(str(row["assets"]))
    except json.JSONDecodeError as err:
        raise EnmapDownloadError(f"manifest row {product}: assets is not JSON: {err}") from err
    missing = [k for k in REQUIRED_KINDS if k not in assets]
    if missing:
        raise EnmapDownloadError(f"manifest row {product}: no assets for {missing}")
    if session is None:
        host = urlparse(assets[SPECTRAL_IMAGE]["href"]).hostname or NETRC_MACHINE
        creds = credentials(host)
        log.info("DLR download of %s with credentials from the %s", product, creds.source)
        session = authenticated_session(creds)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for kind in _KINDS:
        if kind not in assets:
            continue
        href, size = str(assets[kind]["href"]), assets[kind].get("size")
        dest = out / product_file_name(product, kind)
        if dest.is_file() and size is not None and dest.stat().st_size == int(size):
            log.info("%s exists with the announced size (%d B); kept", dest, int(size))
            continue
        download_file(
            href,
            dest,
            expected_size=None if size is None else int(size),
            retries=retries,
            backoff_s=backoff_s,
            session=session,
            auth_hint=_AUTH_HINT,
        )
        _check_magic(dest, href)
    find_product(out, product)  # every required file is there
    return out
