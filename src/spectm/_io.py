"""Atomic file writes: every product is written to a temporary sibling, then renamed.

A job that fails half-way therefore never leaves a file that a rerun would trust.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import xarray as xr

PathLike = str | os.PathLike[str]
"""A file path as accepted by every reader and writer."""


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; rename it onto ``path`` only on success.

    Args:
        path: Final destination. Parent directories are created.

    Yields:
        A temporary path in the same directory (same filesystem, so the rename is atomic).
        On an exception the temporary file is removed and ``path`` is left untouched.
    """
    dest = Path(path)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.exists():
            # mkstemp creates 0600; give the product the usual umask-derived mode
            umask = os.umask(0)
            os.umask(umask)
            tmp.chmod(0o666 & ~umask)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_parquet(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a table to Parquet atomically and return the final path."""
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)
    return Path(path)


def write_csv(df: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a table to CSV atomically and return the final path."""
    with atomic_path(path) as tmp:
        df.to_csv(tmp, index=False)
    return Path(path)


def write_json(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Write JSON (indented, keys sorted) atomically and return the final path."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
    return Path(path)


def write_text(text: str, path: str | os.PathLike[str]) -> Path:
    """Write text atomically and return the final path."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)
    return Path(path)


def write_netcdf(
    ds: xr.Dataset,
    path: str | os.PathLike[str],
    *,
    encoding: dict[str, dict[str, Any]] | None = None,
    group: str | None = None,
) -> Path:
    """Write a Dataset as NetCDF-4 (h5netcdf engine) atomically and return the final path."""
    with atomic_path(path) as tmp:
        ds.to_netcdf(tmp, engine="h5netcdf", encoding=encoding, group=group)
    return Path(path)


def write_cog(da: xr.DataArray, path: str | os.PathLike[str]) -> Path:
    """Write a georeferenced raster as a Cloud-Optimized GeoTIFF atomically; return the path.

    Args:
        da: ``(band, y, x)`` DataArray with rioxarray's CRS, transform and nodata set
            (``da.rio.write_crs(...)``); a tuple ``long_name`` attribute becomes the band
            descriptions and the other attributes GeoTIFF tags.
        path: Output ``.tif``.

    Returns:
        ``path``.

    """
    import rioxarray  # noqa: F401  (registers the .rio accessor; heavy, so only when needed)

    with atomic_path(path) as tmp:
        da.rio.to_raster(tmp, driver="COG")
    return Path(path)


LAST_GOOD_DIR = "last-good"
"""Folder, next to a model, holding the copy of the last run that finished (see
:func:`keep_last_good`)."""


def last_good_path(path: str | os.PathLike[str]) -> Path:
    """Where :func:`keep_last_good` keeps the copy of ``path``: ``<dir>/last-good/<name>``."""
    p = Path(path)
    return p.parent / LAST_GOOD_DIR / p.name


def keep_last_good(*paths: str | os.PathLike[str]) -> list[Path]:
    """Copy finished products to ``<dir>/last-good/<name>``, atomically, and return the copies.

    Snakemake deletes a job's outputs before it runs it again, and again when it fails; this
    copy is not an output, so a rerun that fails (a new corpus, a changed setting, a device that
    is not there) never leaves the project without the last model that worked. A successful
    rerun replaces the copy.
    """
    kept = []
    for path in paths:
        dest = last_good_path(path)
        with atomic_path(dest) as tmp:
            shutil.copy2(path, tmp)
        kept.append(dest)
    return kept
