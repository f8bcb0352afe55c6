"""Public sources of the GLERL sample CSVs (NCEI archive, GLERL datashare) and their download.

The bundled CSVs in ``spectm/data/glerl`` are copies of these files taken from public GitHub
snapshots (provenance: SOURCES.md section 1); byte sizes may differ (line endings), so no
expected sizes are recorded.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import requests

from spectm.sources.http import DownloadError, download_file

BUNDLED_FILES = (
    "lake_erie_habs_field_sampling_results_2012_2018_v2.csv",
    "lake_erie_habs_field_sampling_results_2019.csv",
    "noaa-glerl-erie-habs-field-sampling-results-2020-2021.csv",
    "noaa-glerl-erie-habs-field-sampling-transects-results-2021.csv",
    "noaa-glerl-erie-habs-field-sampling-results-2022.csv",
    "noaa-glerl-erie-habs-field-sampling-transects-results-2022.csv",
    "2024_WLE_Weekly_Datashare_CSV.csv",
    "2025_WLE_Weekly_Datashare_CSV.csv",
)


@dataclass(frozen=True)
class RemoteSampleFile:
    """One public GLERL sample file.

    Attributes:
        filename: File name (also the local name after download).
        url: Public HTTPS address.
        source: NCEI accession number or ``GLERL datashare``.
        years: Years covered.
        size_bytes: Expected size in bytes, None where not known.
        url_verified: False where the URL is a best guess (seen nowhere in public use).

    """

    filename: str
    url: str
    source: str
    years: str
    size_bytes: int | None = None
    url_verified: bool = True


_NODC = "https://www.nodc.noaa.gov/archive"
_NCEI = "https://www.ncei.noaa.gov/data/oceans/archive"
_DATASHARE = "https://www.glerl.noaa.gov/res/HABs_and_Hypoxia/wle-weekly-current"
#: Public URLs of the bundled files. The four NCEI result files use the archive paths seen in
#: published analysis scripts; the transect and datashare paths are best guesses (same NCEI
#: ``0-data`` folder; files next to GLERL's weekly-data page).
NCEI_FILES: tuple[RemoteSampleFile, ...] = (
    RemoteSampleFile(
        BUNDLED_FILES[0],
        f"{_NODC}/arc0135/0187718/2.2/data/0-data/{BUNDLED_FILES[0]}",
        "NCEI 0187718 v2.2",
        "2012-2018",
    ),
    RemoteSampleFile(
        BUNDLED_FILES[1],
        f"{_NODC}/arc0152/0209116/1.1/data/0-data/{BUNDLED_FILES[1]}",
        "NCEI 0209116 v1.1",
        "2019",
    ),
    RemoteSampleFile(
        BUNDLED_FILES[2],
        f"{_NODC}/arc0204/0254720/1.1/data/0-data/{BUNDLED_FILES[2]}",
        "NCEI 0254720 v1.1",
        "2020-2021",
    ),
    RemoteSampleFile(
        BUNDLED_FILES[3],
        f"{_NODC}/arc0204/0254720/1.1/data/0-data/{BUNDLED_FILES[3]}",
        "NCEI 0254720 v1.1",
        "2021",
        url_verified=False,
    ),
    RemoteSampleFile(
        BUNDLED_FILES[4],
        f"{_NCEI}/arc0225/0292222/1.1/data/0-data/{BUNDLED_FILES[4]}",
        "NCEI 0292222 v1.1",
        "2022",
    ),
    RemoteSampleFile(
        BUNDLED_FILES[5],
        f"{_NCEI}/arc0225/0292222/1.1/data/0-data/{BUNDLED_FILES[5]}",
        "NCEI 0292222 v1.1",
        "2022",
        url_verified=False,
    ),
    RemoteSampleFile(
        BUNDLED_FILES[6], f"{_DATASHARE}/{BUNDLED_FILES[6]}", "GLERL datashare", "2024", None, False
    ),
    RemoteSampleFile(
        BUNDLED_FILES[7], f"{_DATASHARE}/{BUNDLED_FILES[7]}", "GLERL datashare", "2025", None, False
    ),
)


def fetch_ncei_file(
    filename: str,
    dest: str | os.PathLike[str],
    *,
    files: Sequence[RemoteSampleFile] = NCEI_FILES,
    session: requests.Session | None = None,
) -> Path:
    """Download one file of the table ``files`` (looked up by name) to ``dest``.

    Raises:
        KeyError: ``filename`` is not in ``files``.
        spectm.sources.http.DownloadError: The download failed (message names URL and dest).

    """
    by_name = {f.filename: f for f in files}
    if filename not in by_name:
        raise KeyError(f"{filename!r} is not a known GLERL sample file: {sorted(by_name)}")
    item = by_name[filename]
    try:
        return download_file(
            item.url, dest, expected_size=item.size_bytes, session=session,
            auth_hint="the NCEI / GLERL files are public, so the address may have moved",
        )  # fmt: skip
    except DownloadError as err:
        guess = "" if item.url_verified else " (this address is a best guess, not a published one)"
        raise DownloadError(
            f"{err}{guess}. The same files ship with spectm: samples.source: bundled uses them "
            f"offline; or put {item.filename} ({item.source}) into {Path(dest).parent} by hand"
        ) from err


def fetch_ncei_samples(
    dest_dir: str | os.PathLike[str],
    files: Sequence[RemoteSampleFile] = NCEI_FILES,
    session: requests.Session | None = None,
    *,
    overwrite: bool = False,
) -> list[Path]:
    """Download the public GLERL sample CSVs into ``dest_dir`` (atomic, retried, size-checked).

    A file already at its destination is kept unless ``overwrite`` is set or its size differs
    from a known expected size (downloads are atomic, so an existing file is a complete one).

    Returns:
        The local paths, in the order of ``files``.

    """
    out: list[Path] = []
    for item in files:
        dest = Path(dest_dir) / item.filename
        stale = dest.exists() and item.size_bytes not in (None, dest.stat().st_size)
        if overwrite or not dest.exists() or stale:
            fetch_ncei_file(item.filename, dest, files=files, session=session)
        out.append(dest)
    return out
