"""PACE OCI L2 AOP granules from two sources behind one interface: a manifest, then the files.

``earthdata`` (:mod:`~spectm.sources.pace.earthdata`) searches NASA CMR with earthaccess and
downloads each granule; ``demo`` (:mod:`~spectm.sources.pace.replay`) lists the real granules of
the shipped matchup table and writes a replay file for each in the L2 AOP format. Both produce the
same manifest columns, so every rule downstream is identical:

* :func:`write_granule_manifest` -- the manifest CSV of either source (Snakemake checkpoint);
* :func:`fetch_granule` -- one granule file of the manifest (one Snakemake job per granule);
* :func:`demo_manifest` -- the demo source's manifest as a table.

earthaccess is imported only when the ``earthdata`` source is used (it costs about a second per
job), never by the demo path.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from spectm.config import PaceDemoConfig
from spectm.geo import validate_bbox
from spectm.inputs import read_text
from spectm.sources.pace import earthdata, replay

__all__ = ["demo_manifest", "fetch_granule", "write_granule_manifest"]

log = logging.getLogger(__name__)


def _check_period(start: str | None, end: str | None) -> None:
    """Start and end, when given, are calendar dates ``YYYY-MM-DD`` with start <= end."""
    days = {}
    for name, text in (("start", start), ("end", end)):
        if text is None:
            continue
        try:
            if len(str(text)) != 10:
                raise ValueError(text)
            days[name] = dt.date.fromisoformat(str(text))
        except ValueError:
            raise ValueError(
                f"PACE search {name} {text!r} is not a calendar date; expected YYYY-MM-DD"
            ) from None
    if len(days) == 2 and days["start"] > days["end"]:
        raise ValueError(f"PACE search start {start} is after end {end}; expected start <= end")


def demo_manifest(
    start: str | None = None, end: str | None = None, max_granules: int | None = None
) -> pd.DataFrame:
    """Manifest of the demo (replay) granules in the earthdata manifest's columns.

    Args:
        start: First day (``YYYY-MM-DD``, UTC, inclusive), as for the earthdata search.
        end: Last day (inclusive).
        max_granules: Keep only the first N granules of the period.

    Returns:
        One row per granule, in time order, with the columns
        :data:`~spectm.sources.pace.earthdata.REQUIRED_MANIFEST_COLUMNS` (``url`` is
        ``demo:replay/<granule>``, ``size_bytes`` is missing).

    Raises:
        ValueError: for a date that is not YYYY-MM-DD, start after end, or ``max_granules`` < 1.
    """
    _check_period(start, end)
    if max_granules is not None and max_granules < 1:
        raise ValueError(
            f"max_granules={max_granules}: expected an integer >= 1 (or None for all granules)"
        )
    g = replay.demo_granules()
    t = pd.to_datetime(g["time_start"], utc=True)
    keep = pd.Series(True, index=g.index)
    if start is not None:
        keep &= t >= pd.Timestamp(start, tz="UTC")
    if end is not None:
        keep &= t < pd.Timestamp(end, tz="UTC") + pd.Timedelta(days=1)
    g = g[keep].reset_index(drop=True)
    if max_granules is not None:
        g = g.head(max_granules)
    return pd.DataFrame(
        {
            "granule": g["granule"],
            "url": "demo:replay/" + g["granule"],
            "size_bytes": pd.Series([pd.NA] * len(g), dtype="Int64"),
            "time_start": g["time_start"],
            "time_end": g["time_end"],
            "version": g["processing_version"],
            "short_name": "PACE_OCI_L2_AOP",
            "provider": "demo",
        }
    )


def write_granule_manifest(
    out_path: str | Path,
    *,
    source: str,
    short_name: str,
    version: str,
    provider: str,
    start: str,
    end: str,
    bbox: Sequence[float],
    max_granules: int | None = None,
) -> Path:
    """Write the granule manifest for ``source`` (``demo`` or ``earthdata``) atomically.

    Args:
        out_path: Manifest CSV to write.
        source: ``demo`` (the replay granules of the matchup table) or ``earthdata`` (log in and
            search NASA CMR).
        short_name: Collection short name (earthdata).
        version: Collection version (earthdata).
        provider: CMR provider (earthdata).
        start: First day (``YYYY-MM-DD``, UTC, inclusive).
        end: Last day (inclusive).
        bbox: (west, south, east, north) in degrees (earthdata).
        max_granules: Keep only the first N granules of the period (demo).

    Returns:
        The written manifest.

    Raises:
        ValueError: for an unknown ``source``, a date that is not YYYY-MM-DD, start after end,
            a bounding box that is not ordered within the degree ranges, or ``max_granules`` < 1.
        RuntimeError: when no granule was found.
    """
    _check_period(start, end)
    validate_bbox(bbox)
    if source == "demo":
        df = demo_manifest(start, end, max_granules)
    elif source == "earthdata":
        earthdata.login()
        df = earthdata.search_granules(
            short_name=short_name,
            version=version,
            provider=provider,
            start=start,
            end=end,
            bbox=(float(bbox[0]), float(bbox[1]), float(bbox[2]), float(bbox[3])),
        )
    else:
        raise ValueError(f"config key 'pace.source': unknown source {source!r}")
    if df.empty:
        raise RuntimeError(
            f"no {short_name} v{version} granules found for {start}..{end} in bbox {list(bbox)}"
        )
    log.info("%d granules in the manifest (source %s)", len(df), source)
    return earthdata.write_manifest(df, out_path)


def fetch_granule(
    manifest_path: str | Path,
    granule: str,
    out_path: str | Path,
    *,
    source: str,
    retries: int,
    demo: PaceDemoConfig,
) -> Path:
    """Produce one granule file: download it (earthdata) or write its replay file (demo).

    Args:
        manifest_path: Manifest written by :func:`write_granule_manifest`.
        granule: Granule file name (``PACE_OCI.….nc``), a ``granule`` of the manifest.
        out_path: Output file (or directory, see the source's writer).
        source: ``demo`` or ``earthdata``, as for the manifest.
        retries: Download retries (earthdata).
        demo: The replay settings (demo): ``shape`` ``(lines, pixels)`` of the swath,
            ``pixel_km`` (nominal pixel size, km), ``cloud_fraction`` (fraction flagged as
            cloud) and ``seed`` (base seed of the writer).

    Returns:
        The granule file.

    Raises:
        FileNotFoundError: the manifest does not exist.
        KeyError: ``granule`` is not in the manifest.
        ValueError: for an unknown ``source``, or a manifest that is empty, not UTF-8 text or
            breaks the manifest schema (naming the file).
    """
    read_text(manifest_path, "a granule manifest CSV (spectm pace-search)")  # empty, UTF-16, binary
    manifest = earthdata.read_manifest(manifest_path)
    rows = manifest[manifest["granule"] == granule]
    if rows.empty:
        raise KeyError(f"{manifest_path}: granule {granule!r} is not in the manifest")
    row = rows.iloc[0]
    if source == "demo":
        return replay.write_demo_granule(
            granule,
            out_path,
            shape=(demo.shape[0], demo.shape[1]),
            pixel_km=demo.pixel_km,
            seed=demo.seed,
            cloud_fraction=demo.cloud_fraction,
        )
    if source == "earthdata":
        earthdata.login()
        return earthdata.download_granule(
            {str(k): v for k, v in row.items()}, out_path, retries=retries
        )
    raise ValueError(f"config key 'pace.source': unknown source {source!r}")
