"""NASA Earthdata access to PACE OCI L2 AOP granules: login, search (manifest), download.

Three steps, each callable from a thin Snakemake script:

1. :func:`login` authenticates earthaccess non-interactively, from the environment
   (``EARTHDATA_TOKEN``, or ``EARTHDATA_USERNAME`` + ``EARTHDATA_PASSWORD``) or from a netrc
   file (``$NETRC`` or ``~/.netrc``, machine ``urs.earthdata.nasa.gov``). No secret is ever
   logged, written or put in an error message.
2. :func:`search_granules` queries NASA CMR through ``earthaccess.search_data`` and returns a
   manifest, one row per granule file (columns in :data:`MANIFEST_COLUMNS`);
   :func:`write_manifest` / :func:`read_manifest` store and check it.
3. :func:`download_granule` fetches one granule per call (one Snakemake job per granule) with an
   authenticated ``requests`` session from earthaccess, streams it to a temporary file, checks
   its size, retries with exponential backoff and renames it into place only when it is complete.

Why not ``earthaccess.download``: it skips a same-named local file without checking its size and
does not resume, so an interrupted or corrupted file would be trusted forever. Here an existing
file is reused only when its size matches the manifest.

Manifest size semantics: CMR UMM-G ``DataGranule.ArchiveAndDistributionInformation`` carries a
file's size either exactly (``SizeInBytes``) or rounded in a unit (``Size`` + ``SizeUnit``).
earthaccess's ``DataGranule.size()`` sums ``Size`` values and reads them as MB (2**20 bytes) while
ignoring ``SizeUnit`` (earthaccess issue #785). We read the entry of the data file itself,
prefer ``SizeInBytes`` (tolerance 0) and otherwise convert ``Size`` with binary multiples of its
unit, with the tolerance of :func:`rounded_size_tolerance` (unit rounding plus the
decimal-versus-binary ambiguity of "MB", about 5 %). Truncated transfers are caught exactly
by comparing the bytes received with the server's ``Content-Length``.
"""

from __future__ import annotations

import logging
import math
import netrc
import os
import re
import time
from collections.abc import Callable, Mapping
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import pandas as pd
import requests

if TYPE_CHECKING:  # earthaccess (with s3fs, aiobotocore) is imported only when it is used:
    import earthaccess  # the offline demo's many granule jobs would pay ~1 s each for it

from spectm._io import atomic_path, write_csv
from spectm.io.pace_l2 import L2_AOP_NAME_RE
from spectm.logs import scrub_secrets
from spectm.sources.http import pause_before_retry

log = logging.getLogger(__name__)

EDL_HOST = "urs.earthdata.nasa.gov"
"""Earthdata Login host; the netrc ``machine`` name earthaccess looks up."""

MANIFEST_COLUMNS: tuple[str, ...] = (
    "granule",
    "url",
    "size_bytes",
    "size_tolerance_bytes",
    "time_start",
    "time_end",
    "short_name",
    "version",
    "provider",
    "day_night",
    "concept_id",
)
"""Columns written by :func:`search_granules`, in order."""

REQUIRED_MANIFEST_COLUMNS: tuple[str, ...] = (
    "granule",
    "url",
    "size_bytes",
    "time_start",
    "time_end",
    "short_name",
    "version",
    "provider",
)
"""Columns :func:`read_manifest` insists on (the demo source writes only these)."""

_UNIT_POWER = {"B": 0, "KB": 1, "MB": 2, "GB": 3, "TB": 4, "PB": 5}
_CHUNK_BYTES = 8 * 2**20


class EarthdataLoginError(RuntimeError):
    """No usable Earthdata credentials, or Earthdata Login rejected them."""


class EarthdataDownloadError(RuntimeError):
    """A granule could not be downloaded completely and with the expected size."""


class EarthdataSearchError(RuntimeError):
    """The CMR search failed: unreachable, refused, or server errors after the retries."""


# ---------------------------------------------------------------------------------------------
# login


def _netrc_file() -> Path:
    """Return the netrc file earthaccess reads: ``$NETRC`` when set, else ``~/.netrc``."""
    env = os.environ.get("NETRC")
    return Path(env) if env else Path.home() / ".netrc"


def _env_credentials_present() -> bool:
    token = os.environ.get("EARTHDATA_TOKEN")
    user, password = os.environ.get("EARTHDATA_USERNAME"), os.environ.get("EARTHDATA_PASSWORD")
    return bool(token) or (bool(user) and bool(password))


def _netrc_credentials_present(path: Path) -> bool:
    """Tell whether ``path`` has a login and password for :data:`EDL_HOST`.

    Raises:
        EarthdataLoginError: when the file exists but cannot be parsed (the message names the
            file and line, never its content: a parse error can quote a password).

    """
    if not path.is_file():
        return False
    try:
        entry = netrc.netrc(str(path)).authenticators(EDL_HOST)
    except netrc.NetrcParseError as err:
        raise EarthdataLoginError(
            f"cannot parse netrc file {path} (line {err.lineno}); fix it or use the "
            "EARTHDATA_TOKEN / EARTHDATA_USERNAME + EARTHDATA_PASSWORD environment variables"
        ) from None
    return entry is not None and bool(entry[0]) and bool(entry[2])


def _no_credentials_message(strategy: str, netrc_path: Path) -> str:
    return (
        f"no Earthdata credentials for login strategy {strategy!r}. Either set the environment "
        "variable EARTHDATA_TOKEN (an Earthdata Login token), or EARTHDATA_USERNAME and "
        f"EARTHDATA_PASSWORD; or add a line 'machine {EDL_HOST} login <user> password <pass>' "
        f"to the netrc file {netrc_path} (chmod 600; the NETRC variable can point elsewhere). "
        "Interactive login is never used."
    )


def _scrub(text: str) -> str:
    """Replace any credential value from the environment that appears in ``text``."""
    return scrub_secrets(text)


def _one_line(text: str, limit: int = 300) -> str:
    """``text`` on one line, cut to ``limit`` characters (an error page can be long)."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def credentials_source(strategy: str = "auto") -> tuple[str, str]:
    """Find which Earthdata credentials :func:`login` would use, without any request.

    Args:
        strategy: As for :func:`login`.

    Returns:
        ``(strategy, where)``: the earthaccess strategy (``"environment"`` or ``"netrc"``) and
        where the credentials are, for messages (never a secret).

    Raises:
        ValueError: for an unknown or interactive strategy.
        EarthdataLoginError: when the chosen source has no credentials (the message explains
            every option) or the netrc file cannot be parsed.
    """
    if strategy not in ("auto", "environment", "netrc"):
        raise ValueError(
            f"login strategy {strategy!r} is not allowed; use 'auto', 'environment' or 'netrc'"
        )
    netrc_path = _netrc_file()
    if strategy == "auto":
        if _env_credentials_present():
            chosen = "environment"
        elif _netrc_credentials_present(netrc_path):
            chosen = "netrc"
        else:
            raise EarthdataLoginError(_no_credentials_message(strategy, netrc_path))
    else:
        available = (
            _env_credentials_present()
            if strategy == "environment"
            else _netrc_credentials_present(netrc_path)
        )
        if not available:
            raise EarthdataLoginError(_no_credentials_message(strategy, netrc_path))
        chosen = strategy
    if chosen == "environment":
        var = "EARTHDATA_TOKEN" if os.environ.get("EARTHDATA_TOKEN") else "EARTHDATA_USERNAME"
        where = f"environment variables ({var}{'' if var.endswith('TOKEN') else ' + PASSWORD'})"
    else:
        where = f"netrc file {netrc_path}"
    return chosen, where


def login(strategy: str = "auto", *, retries: int = 2, backoff_s: float = 2.0) -> earthaccess.Auth:
    """Authenticate earthaccess with Earthdata Login, never interactively.

    Args:
        strategy: ``"auto"`` (environment if its variables are set, else the netrc file),
            ``"environment"`` or ``"netrc"``. earthaccess's ``"interactive"`` and ``"all"`` are
            refused: a batch job must not wait for a prompt.
        retries: Further attempts after a connection error, a timeout or an HTTP 5xx answer
            of Earthdata Login (rejected credentials are not retried).
        backoff_s: Wait before retry ``k`` is ``backoff_s * 2 ** (k - 1)`` seconds.

    Returns:
        The authenticated ``earthaccess.Auth`` object (earthaccess also keeps it globally, so
        :func:`search_granules` and :func:`download_granule` use it).

    Raises:
        ValueError: for an unknown or interactive strategy.
        EarthdataLoginError: when the chosen source has no credentials (the message explains
            both options; no request is made), Earthdata Login rejects them, or it cannot be
            reached (the message names the host and what to do).

    """
    chosen, source = credentials_source(strategy)
    netrc_path = _netrc_file()
    import earthaccess
    from earthaccess.exceptions import LoginAttemptFailure, LoginStrategyUnavailable

    auth = None
    last = ""
    for attempt in range(retries + 1):
        if attempt:
            pause_before_retry(attempt, backoff_s, "Earthdata Login", last, log)
        try:
            auth = earthaccess.login(strategy=chosen)
            break
        except LoginStrategyUnavailable:
            raise EarthdataLoginError(_no_credentials_message(chosen, netrc_path)) from None
        except LoginAttemptFailure as err:
            raise EarthdataLoginError(
                f"Earthdata Login rejected the credentials from the {source}: "
                f"{_scrub(_one_line(str(err)))}; check them at https://{EDL_HOST}"
            ) from None
        except requests.HTTPError as err:
            status = err.response.status_code if err.response is not None else None
            url = err.request.url if err.request is not None else f"https://{EDL_HOST}"
            if status in (400, 401, 403):
                raise EarthdataLoginError(
                    f"Earthdata Login refused the credentials from the {source} (HTTP {status} "
                    f"for {url}): check them (an expired EARTHDATA_TOKEN? generate a new one at "
                    f"https://{EDL_HOST})"
                ) from None
            last = _scrub(_one_line(f"HTTP {status} for {url}"))
        except requests.RequestException as err:
            last = _scrub(_one_line(f"{type(err).__name__}: {err}"))
    if auth is None:
        raise EarthdataLoginError(
            f"cannot reach Earthdata Login at https://{EDL_HOST} after {retries + 1} "
            f"attempt(s): {last}. Check the network connection (proxy, firewall) or try again "
            "later; pace.source: demo runs offline"
        )
    if not getattr(auth, "authenticated", False):
        raise EarthdataLoginError(f"Earthdata Login did not authenticate with the {source}")
    log.info("Earthdata login succeeded (strategy %s)", chosen)
    return auth


# ---------------------------------------------------------------------------------------------
# search and manifest


def _iso_utc(value: str | date | datetime, *, end_of_day: bool) -> str:
    """ISO-8601 UTC string for CMR; a bare date means 00:00:00 (start) or 23:59:59 (end)."""
    is_bare_date = (isinstance(value, date) and not isinstance(value, datetime)) or (
        isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()) is not None
    )
    ts = pd.Timestamp(value)
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    if is_bare_date and end_of_day:
        ts = ts + pd.Timedelta(days=1) - pd.Timedelta(seconds=1)
    return ts.strftime("%Y-%m-%dT%H:%M:%SZ")


def _check_bbox(bbox: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    if len(bbox) != 4:
        raise ValueError(f"bbox must be (west, south, east, north) in degrees, got {bbox!r}")
    west, south, east, north = (float(v) for v in bbox)
    if not (-180 <= west < east <= 180 and -90 <= south < north <= 90):
        raise ValueError(
            f"bbox (west, south, east, north) = {bbox!r} is not a valid lon/lat box in degrees"
        )
    return west, south, east, north


def rounded_size_tolerance(size_bytes: int, unit: str) -> int:
    """Tolerance (bytes) for a size that CMR reports rounded in ``unit`` rather than in bytes.

    Covers rounding to a whole ``unit`` (half a unit) plus reading the unit as binary
    (1 MB = 2**20 B, as earthaccess does) when the provider meant decimal (10**6 B): about 4.9 %
    of the size for MB, 2.4 % for KB.
    """
    power = _UNIT_POWER.get(unit.upper(), 2)
    if power == 0:
        return 0
    binary, decimal = 1024**power, 1000**power
    return math.ceil(size_bytes * (1 - decimal / binary)) + binary // 2


def _file_size(umm: Mapping[str, Any], name: str) -> tuple[int, int] | None:
    """(size_bytes, tolerance_bytes) of file ``name`` from UMM-G, or None when not reported."""
    infos = umm.get("DataGranule", {}).get("ArchiveAndDistributionInformation", []) or []
    named = [i for i in infos if i.get("Name") == name]
    if not named and len(infos) == 1:
        named = infos  # a single entry without a matching Name describes the one data file
    for info in named:
        if info.get("SizeInBytes") is not None:
            return int(info["SizeInBytes"]), 0
        unit = str(info.get("SizeUnit", "MB")).upper()
        if info.get("Size") is not None and unit in _UNIT_POWER:  # SizeUnit "NA": unknown
            size = round(float(info["Size"]) * 1024 ** _UNIT_POWER[unit])
            return size, rounded_size_tolerance(size, unit)
    return None


def _granule_row(
    granule: earthaccess.DataGranule, short_name: str, version: str
) -> dict[str, Any] | None:
    """Manifest row for one CMR granule, or None when it has no https AOP data link."""
    links = [u for u in granule.data_links(access="external") if u.startswith("https://")]
    aop = [u for u in links if L2_AOP_NAME_RE.match(Path(urlparse(u).path).name)]
    if not aop:
        return None
    url = aop[0]
    name = Path(urlparse(url).path).name
    umm, meta = granule["umm"], granule.get("meta", {})
    sizes = _file_size(umm, name)
    rng = umm.get("TemporalExtent", {}).get("RangeDateTime", {})
    collection = umm.get("CollectionReference", {})
    return {
        "granule": name,
        "url": url,
        "size_bytes": None if sizes is None else sizes[0],
        "size_tolerance_bytes": None if sizes is None else sizes[1],
        "time_start": _iso_utc(rng["BeginningDateTime"], end_of_day=False),
        "time_end": _iso_utc(rng.get("EndingDateTime", rng["BeginningDateTime"]), end_of_day=False),
        "short_name": collection.get("ShortName", short_name),
        "version": str(collection.get("Version", version)),
        "provider": meta.get("provider-id", ""),
        "day_night": umm.get("DataGranule", {}).get("DayNightFlag", ""),
        "concept_id": meta.get("concept-id", ""),
    }


def search_granules(
    *,
    short_name: str = "PACE_OCI_L2_AOP",
    version: str = "3.1",
    provider: str = "OB_CLOUD",
    start: str | date | datetime,
    end: str | date | datetime,
    bbox: tuple[float, float, float, float],
    retries: int = 3,
    backoff_s: float = 2.0,
) -> pd.DataFrame:
    """Search CMR for L2 AOP granules and return the download manifest.

    Uses ``earthaccess.search_data(short_name=, version=, provider=, temporal=, bounding_box=)``
    (no ``cloud_cover=``: L2 granules carry no cloud metadata and would all be dropped).

    Args:
        short_name: Collection short name (near-real-time: ``PACE_OCI_L2_AOP_NRT``).
        version: Collection version, e.g. ``"3.1"``.
        provider: CMR provider, ``OB_CLOUD`` for PACE.
        start: First day/time (UTC); a bare date means 00:00:00.
        end: Last day/time (UTC), inclusive; a bare date means 23:59:59.
        bbox: (west, south, east, north) in degrees.
        retries: Further attempts of the search after a connection error, a timeout or an
            HTTP 5xx / 429 answer of CMR.
        backoff_s: Wait before retry ``k`` is ``backoff_s * 2 ** (k - 1)`` seconds.

    Returns:
        One row per granule file, columns :data:`MANIFEST_COLUMNS`: ``granule`` (file name),
        ``url`` (https), ``size_bytes`` (nullable int), ``size_tolerance_bytes`` (0 when CMR gives
        bytes), ``time_start``/``time_end`` (UTC ``YYYY-MM-DDTHH:MM:SSZ``), ``short_name``,
        ``version``, ``provider``, ``day_night``, ``concept_id``. Only L2 AOP file names
        (:data:`spectm.io.pace_l2.L2_AOP_NAME_RE`, ``….NRT.nc`` included), deduplicated by file
        name, sorted by ``time_start``.

    Raises:
        EarthdataSearchError: CMR was unreachable or answered with an error (after the
            retries for transient failures); the message names CMR and what to do.

    """
    west, south, east, north = _check_bbox(bbox)
    temporal = (_iso_utc(start, end_of_day=False), _iso_utc(end, end_of_day=True))
    if temporal[0] > temporal[1]:
        raise ValueError(f"search period start {temporal[0]} is after end {temporal[1]}")
    results = _search_data(
        retries=retries,
        backoff_s=backoff_s,
        short_name=short_name,
        version=version,
        provider=provider,
        temporal=temporal,
        bounding_box=(west, south, east, north),
    )
    rows = [_granule_row(g, short_name, version) for g in results]
    kept = [r for r in rows if r is not None]
    if len(kept) < len(rows):
        log.info(
            "%d of %d granules have no L2 AOP https file; skipped", len(rows) - len(kept), len(rows)
        )
    df = pd.DataFrame(kept, columns=list(MANIFEST_COLUMNS))
    for col in ("size_bytes", "size_tolerance_bytes"):
        df[col] = df[col].astype("Int64")
    n = len(df)
    df = df.drop_duplicates(subset="granule", keep="first")
    df = df.sort_values(["time_start", "granule"], kind="stable").reset_index(drop=True)
    log.info(
        "CMR %s v%s %s..%s: %d granules (%d duplicates dropped)",
        short_name, version, temporal[0], temporal[1], len(df), n - len(df),
    )  # fmt: skip
    return df


CMR_URL = "https://cmr.earthdata.nasa.gov/search/"
"""NASA's Common Metadata Repository search API (earthaccess's default)."""


def _http_status(err: BaseException) -> int | None:
    """HTTP status of a failed CMR request (earthaccess wraps HTTPError in RuntimeError)."""
    for exc in (err, err.__cause__):
        response = getattr(exc, "response", None)
        if isinstance(exc, requests.HTTPError) and response is not None:
            return int(response.status_code)
    return None


def _search_data(*, retries: int, backoff_s: float, **query: Any) -> list[Any]:
    """``earthaccess.search_data(**query)``, retrying connection errors, timeouts and 5xx/429."""
    import earthaccess

    last = ""
    for attempt in range(retries + 1):
        if attempt:
            pause_before_retry(attempt, backoff_s, "CMR search", last, log)
        try:
            return list(earthaccess.search_data(**query))
        except (requests.ConnectionError, requests.Timeout) as err:
            last = _scrub(_one_line(f"{type(err).__name__}: {err}"))
        except (requests.HTTPError, RuntimeError) as err:
            status = _http_status(err)
            if status is None and not isinstance(err, requests.HTTPError):
                raise
            last = _scrub(_one_line(f"HTTP {status}: {err}"))
            if status is not None and status < 500 and status != 429:
                raise EarthdataSearchError(
                    f"CMR search at {CMR_URL} refused the query ({last}); check pace.short_name, "
                    "pace.version, pace.provider, the period and aoi_bbox"
                ) from None
    raise EarthdataSearchError(
        f"CMR search at {CMR_URL} failed after {retries + 1} attempt(s): {last}. Check the "
        "network connection (proxy, firewall) or try again later; pace.source: demo runs offline"
    )


def write_manifest(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a manifest as CSV atomically and return its path."""
    missing = [c for c in REQUIRED_MANIFEST_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"manifest for {path} lacks columns {missing}")
    return write_csv(df, path)


def _first(mask: pd.Series) -> str:
    """Describe where the first True of ``mask`` is: 0-based data row and CSV line number."""
    i = int(mask.to_numpy().argmax())
    return f"{i} (CSV line {i + 2})"


def read_manifest(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read and check a manifest CSV.

    Raises:
        ValueError: naming the file and the column (and row) that break the schema: a missing
            required column, an empty or duplicated ``granule``, a negative or non-integer
            ``size_bytes``, an unparseable time.

    """
    df = pd.read_csv(path, dtype={"granule": str, "url": str, "version": str})
    missing = [c for c in REQUIRED_MANIFEST_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"manifest {path}: missing column(s) {missing}")
    bad = df["granule"].isna() | (df["granule"].astype(str).str.strip() == "")
    if bad.any():
        raise ValueError(f"manifest {path}: column 'granule' is empty in row {_first(bad)}")
    dup = df["granule"].duplicated()
    if dup.any():
        raise ValueError(
            f"manifest {path}: column 'granule' repeats {df['granule'][dup].iloc[0]!r}"
        )
    for col in ("size_bytes", "size_tolerance_bytes"):
        if col not in df.columns:
            continue
        values = pd.to_numeric(df[col], errors="coerce")
        bad = (
            (df[col].notna() & values.isna()) | (values < 0) | (values.notna() & (values % 1 != 0))
        )
        if bad.any():
            raise ValueError(
                f"manifest {path}: column {col!r} row {_first(bad)} is "
                f"{df[col][bad].iloc[0]!r}, expected a non-negative integer number of bytes"
            )
        df[col] = values.astype("Int64")
    for col in ("time_start", "time_end"):
        parsed = pd.to_datetime(df[col], utc=True, errors="coerce")
        if parsed.isna().any():
            raise ValueError(
                f"manifest {path}: column {col!r} row {_first(parsed.isna())} is not a UTC time"
            )
    return df


# ---------------------------------------------------------------------------------------------
# download


def _default_session() -> requests.Session:
    """Return earthaccess's authenticated https session, logging in first when needed."""
    import earthaccess

    if getattr(earthaccess, "__store__", None) is None:
        login()
    return earthaccess.get_requests_https_session()


def _size_ok(actual: int, expected: int | None, tolerance: int) -> bool:
    return expected is None or abs(actual - expected) <= tolerance


def _fetch_once(
    session: requests.Session, url: str, tmp: Path, timeout_s: float
) -> tuple[int, int | None]:
    """Stream ``url`` into ``tmp``; return (bytes received, Content-Length or None)."""
    with session.get(url, stream=True, timeout=timeout_s, allow_redirects=True) as resp:
        if resp.status_code in (401, 403):
            raise EarthdataDownloadError(
                f"HTTP {resp.status_code} for {url}: check the Earthdata login and that your "
                "account has accepted the OB.DAAC data use terms"
            )
        if resp.status_code in (404, 410):
            raise EarthdataDownloadError(
                f"HTTP {resp.status_code} for {url}: the granule is not at this address (replaced "
                "by a reprocessing?); search again: delete results/pace/manifest.csv and rerun"
            )
        if 400 <= resp.status_code < 500 and resp.status_code != 429:
            raise EarthdataDownloadError(
                f"HTTP {resp.status_code} for {url}: not retried (a client error); check the URL "
                "in the manifest"
            )
        resp.raise_for_status()  # 429 / 5xx -> HTTPError -> retried
        if "text/html" in resp.headers.get("Content-Type", ""):
            raise EarthdataDownloadError(
                f"{url} returned an HTML page instead of NetCDF (an Earthdata Login redirect?)"
            )
        length = resp.headers.get("Content-Length")
        if resp.headers.get("Content-Encoding", "identity").lower() not in ("identity", ""):
            length = None  # Content-Length counts the encoded bytes, iter_content decodes
        received = 0
        with tmp.open("wb") as fh:
            for chunk in resp.iter_content(chunk_size=_CHUNK_BYTES):
                fh.write(chunk)
                received += len(chunk)
    return received, (int(length) if length is not None else None)


def download_granule(
    row_or_url: Mapping[str, Any] | str,
    dest: str | os.PathLike[str],
    *,
    expected_size_bytes: int | None = None,
    size_tolerance_bytes: int | None = None,
    retries: int = 3,
    backoff_s: float = 2.0,
    timeout_s: float = 120.0,
    session_factory: Callable[[], requests.Session] | None = None,
) -> Path:
    """Download one granule file to ``dest`` atomically, checking its size.

    An existing ``dest`` is kept only when its size matches the manifest; otherwise it is
    deleted and downloaded again (see the module docstring for why ``earthaccess.download`` is
    not used). The download goes to a temporary sibling, is checked (bytes received equal
    ``Content-Length``; size within tolerance of the manifest) and only then renamed onto
    ``dest``, so a failed job leaves no file.

    Args:
        row_or_url: A manifest row (``url``, ``size_bytes``, optional ``size_tolerance_bytes``)
            or an https URL.
        dest: Output file path; an existing directory means ``dest/<file name of the URL>``.
        expected_size_bytes: Size from the manifest (bytes); taken from the row when omitted.
            None means unknown: the transfer is still checked against ``Content-Length``, but an
            existing file cannot be verified and is downloaded again.
        size_tolerance_bytes: Allowed |actual - expected| (bytes). Taken from the row; for a bare
            URL it defaults to :func:`rounded_size_tolerance` for MB (about 5 %), since sizes
            from earthaccess are rounded MB unless CMR gave ``SizeInBytes``.
        retries: Further attempts after a failed one (connection errors, timeouts, HTTP 429/5xx,
            truncated transfers); total attempts = ``retries + 1``. HTTP 401/403/404, HTML login
            pages, other HTTP 4xx and a complete file of the wrong size fail at once.
        backoff_s: Wait before retry k is ``backoff_s * 2**(k-1)`` seconds.
        timeout_s: Connect/read timeout per request, seconds.
        session_factory: Returns a ``requests.Session``; default: earthaccess's authenticated
            session (:func:`login` is called when earthaccess is not logged in yet).

    Returns:
        The path of the verified file.

    Raises:
        EarthdataDownloadError: when no attempt produced a file of the expected size.

    """
    if isinstance(row_or_url, str):
        url = row_or_url
        expected = expected_size_bytes
        tolerance = size_tolerance_bytes
        if tolerance is None and expected is not None:
            tolerance = rounded_size_tolerance(expected, "MB")
    else:
        url = str(row_or_url["url"])
        size = row_or_url.get("size_bytes")
        expected = expected_size_bytes if expected_size_bytes is not None else size
        tol = row_or_url.get("size_tolerance_bytes")
        tolerance = size_tolerance_bytes if size_tolerance_bytes is not None else tol
    expected = None if expected is None or pd.isna(expected) else int(expected)
    tolerance = 0 if tolerance is None or pd.isna(tolerance) else int(tolerance)
    if not url.startswith("https://"):
        raise ValueError(f"granule URL must be https, got {url!r}")
    target = Path(dest)
    if target.is_dir():
        target = target / Path(urlparse(url).path).name

    if target.exists():
        actual = target.stat().st_size
        if expected is not None and _size_ok(actual, expected, tolerance):
            log.info(
                "%s exists with the manifest size (%d B); not downloaded again", target, actual
            )
            return target
        log.warning(
            "%s exists but its size %d B is not the manifest's %s B +- %d; downloading again",
            target, actual, expected, tolerance,
        )  # fmt: skip
        target.unlink()

    session = (session_factory or _default_session)()
    last_error: Exception | None = None
    for attempt in range(retries + 1):
        if attempt:
            wait = backoff_s * 2 ** (attempt - 1)
            log.warning(
                "attempt %d for %s failed (%s); retrying in %.1f s", attempt, url, last_error, wait
            )
            time.sleep(wait)
        try:
            with atomic_path(target) as tmp:
                received, length = _fetch_once(session, url, tmp, timeout_s)
                if length is not None and received != length:
                    raise requests.exceptions.ChunkedEncodingError(
                        f"transfer truncated: {received} of {length} B"
                    )
                if not _size_ok(received, expected, tolerance):
                    msg = (
                        f"{url}: downloaded {received} B but the manifest says {expected} B "
                        f"(tolerance {tolerance} B); the manifest may be stale"
                    )
                    if length is None:  # no Content-Length: may be a silent truncation, retry
                        raise requests.exceptions.ChunkedEncodingError(msg)
                    raise EarthdataDownloadError(msg)
        except EarthdataDownloadError:
            raise
        except (requests.exceptions.RequestException, OSError) as err:
            last_error = err
            continue
        log.info("downloaded %s (%d B) to %s", url, received, target)
        return target
    raise EarthdataDownloadError(
        _scrub(
            f"{url}: no complete download after {retries + 1} attempts; last error: "
            f"{_one_line(str(last_error))}. Check the network connection (proxy, firewall) or "
            "try again later; a rerun fetches only the missing granules"
        )
    )
