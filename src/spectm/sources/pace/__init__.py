"""PACE OCI L2 AOP granules from two sources behind one interface: a manifest, then the files.

``earthdata`` (:mod:`~spectm.sources.pace.earthdata`) searches NASA CMR with earthaccess and
downloads each granule; ``demo`` (:mod:`~spectm.sources.pace.replay`) lists the real granules of
the shipped matchup table and writes a replay file for each in the L2 AOP format. Both produce the
same manifest columns, so every rule downstream is identical:

* :func:`write_granule_manifest` -- the manifest CSV of either source (Snakemake checkpoint);
* :func:`fetch_granule` -- one granule file of the manifest (one Snakemake job per granule);
* :func:`demo_manifest` -- the demo source's manifest as a table;
* :func:`one_product_per_overpass` -- the rule both sources' manifests follow: when an overpass
  has a refined product and a near-real-time one (``….NRT.nc``), only the refined one is listed
  and the NRT one is recorded as superseded (column :data:`SUPERSEDES`).

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
from spectm.io.pace_l2 import L2_AOP_NAME_RE
from spectm.sources.pace import earthdata, replay

__all__ = [
    "SUPERSEDES",
    "demo_manifest",
    "fetch_granule",
    "one_product_per_overpass",
    "write_granule_manifest",
]

log = logging.getLogger(__name__)

SUPERSEDES = "supersedes"
"""Manifest column: the granules of the same overpass that this row's granule replaces
(space-separated file names, empty when none). They are not in the ``granule`` column."""


def _superseded_lists(column: pd.Series) -> list[list[str]]:
    """The granule names of each :data:`SUPERSEDES` cell (missing or empty: none)."""
    return [v.split() if isinstance(v, str) else [] for v in column]


def _product_key(name: str, row: int) -> tuple[str, bool, tuple[int, ...], str]:
    """Sort key of a granule within its overpass: (overpass, NRT, -version, name)."""
    m = L2_AOP_NAME_RE.match(name)
    if m is None:
        raise ValueError(
            f"manifest row {row}: granule {name!r} is not a PACE OCI L2 AOP file name "
            "(PACE_OCI.YYYYMMDDTHHMMSS.L2.OC_AOP.V<version>[.NRT].nc)"
        )
    version = [int(v) for v in m.group(2).split("_")]
    padded = (version + [0] * 4)[:4]
    return m.group(1), name.endswith(".NRT.nc"), tuple(-v for v in padded), name


def one_product_per_overpass(manifest: pd.DataFrame) -> pd.DataFrame:
    """Keep one granule per overpass: a refined product supersedes the near-real-time one.

    An overpass is the start time in the granule name (``PACE_OCI.YYYYMMDDTHHMMSS.…``). Of the
    granules of one overpass the one kept is the refined product (a name not ending ``.NRT.nc``)
    before the near-real-time one, then the highest processing version (``V3_1`` before
    ``V3_0``), then the first name; the others leave the manifest and are listed in the kept
    row's :data:`SUPERSEDES` column. A near-real-time granule without a refined one of its
    overpass stays. Applying the rule again changes nothing.

    Args:
        manifest: A manifest (a ``granule`` column of L2 AOP file names, one row each); a
            :data:`SUPERSEDES` column already there is kept and extended.

    Returns:
        The manifest without the superseded rows, rows otherwise in their order, index reset,
        with the :data:`SUPERSEDES` column (text, ``""`` when the granule replaces none).

    Raises:
        ValueError: naming the row whose ``granule`` is not an L2 AOP file name.
    """
    out = manifest.reset_index(drop=True).copy()
    names = out["granule"].astype(str).tolist()
    prior = _superseded_lists(out[SUPERSEDES]) if SUPERSEDES in out else [[] for _ in names]
    keys = [_product_key(name, i) for i, name in enumerate(names)]
    kept: dict[str, int] = {}  # overpass -> row kept
    replaced: dict[int, list[str]] = {}  # row kept -> the names it supersedes
    for i in sorted(range(len(out)), key=lambda k: keys[k]):
        overpass = keys[i][0]
        if overpass not in kept:
            kept[overpass] = i
            replaced[i] = list(prior[i])
            continue
        winner = kept[overpass]
        replaced[winner] += [names[i], *prior[i]]
        log.info("%s is superseded by %s (one product per overpass)", names[i], names[winner])
    keep = sorted(replaced)
    out[SUPERSEDES] = [" ".join(replaced.get(i, [])) for i in range(len(out))]
    return out.iloc[keep].reset_index(drop=True)


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
        One row per overpass (:func:`one_product_per_overpass`; ``max_granules`` counts these),
        in time order, with the columns
        :data:`~spectm.sources.pace.earthdata.REQUIRED_MANIFEST_COLUMNS` (``url`` is
        ``demo:replay/<granule>``, ``size_bytes`` is missing) and :data:`SUPERSEDES`.

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
    manifest = pd.DataFrame(
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
    manifest = one_product_per_overpass(manifest)
    return manifest if max_granules is None else manifest.head(max_granules)


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
        The written manifest: one row per overpass, the refined product where there is one
        (:func:`one_product_per_overpass`, whatever the source); the near-real-time granules it
        replaced are listed in its :data:`SUPERSEDES` column, not in ``granule``.

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
    df = one_product_per_overpass(df)
    if df.empty:
        raise RuntimeError(
            f"no {short_name} v{version} granules found for {start}..{end} in bbox {list(bbox)}"
        )
    n_superseded = sum(len(v.split()) for v in df[SUPERSEDES])
    log.info(
        "%d granules in the manifest (source %s), %d superseded", len(df), source, n_superseded
    )
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
        KeyError: ``granule`` is not in the manifest (naming the granule that supersedes it,
            when it is one of those).
        ValueError: for an unknown ``source``, or a manifest that is empty, not UTF-8 text or
            breaks the manifest schema (naming the file).
    """
    read_text(manifest_path, "a granule manifest CSV (spectm pace-search)")  # empty, UTF-16, binary
    manifest = earthdata.read_manifest(manifest_path)
    rows = manifest[manifest["granule"] == granule]
    if rows.empty:
        if SUPERSEDES in manifest:
            listed = _superseded_lists(manifest[SUPERSEDES])
            by = [
                g for g, names in zip(manifest["granule"], listed, strict=True) if granule in names
            ]
            if by:
                raise KeyError(
                    f"{manifest_path}: granule {granule!r} is not in the manifest: it is "
                    f"superseded by {by[0]!r} (one product per overpass)"
                )
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
