"""EnMAP L2A products already on disk: a directory of delivered products, read in place.

The directory holds one sub-directory per product (as DLR delivers them, at any depth) or the
product files side by side. :func:`local_manifest` lists every product whose ``METADATA.XML`` is
found below the directory, with its acquisition times (from the XML) and lon/lat box (from the
spectral image's bounds), keeping those in the period and intersecting the AOI. Its ``url`` is
the absolute path of the directory holding the product's files: nothing is linked or copied, the
chips are cut from the files where they are (:func:`spectm.sources.enmap.product_directory`
returns that directory).
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import rasterio
from rasterio.warp import transform_bounds

from spectm._io import PathLike
from spectm.io.enmap_l2a import METADATA, find_product, read_metadata, split_file_name

log = logging.getLogger(__name__)


def _product_dirs(root: Path) -> list[tuple[Path, str]]:
    """(directory, product name) of every ``-METADATA.XML`` at or below ``root``."""
    out = []
    for p in sorted(root.rglob("*")):
        parts = split_file_name(p.name) if p.is_file() else None
        if parts is not None and parts[1] == METADATA:
            out.append((p.parent, parts[0]))
    return out


def local_manifest(
    directory: PathLike,
    *,
    start: str,
    end: str,
    bbox: Sequence[float],
    max_products: int | None = None,
) -> pd.DataFrame:
    """List the delivered products in ``directory`` that fall in the period and AOI.

    Args:
        directory: Root directory of the delivered products.
        start: First day (``YYYY-MM-DD``, UTC, inclusive) of ``time_start``.
        end: Last day (inclusive).
        bbox: AOI (west, south, east, north), degrees; a product is kept when its lon/lat box
            intersects it.
        max_products: Keep only the first N (time order).

    Returns:
        Manifest rows (``product``, ``url`` = the product's directory, absolute,
        ``time_start``/``time_end``, ``west``..``north``), sorted by time. Incomplete products
        (a missing spectral image or required quality layer) are left out with a warning.

    Raises:
        FileNotFoundError: if ``directory`` does not exist.
    """
    root = Path(directory)
    if not root.is_dir():
        raise FileNotFoundError(f"local EnMAP product directory not found: {root}")
    t0 = pd.Timestamp(start, tz="UTC")
    t1 = pd.Timestamp(end, tz="UTC") + pd.Timedelta(days=1)
    w, s, e, n = (float(v) for v in bbox)
    rows = []
    for folder, name in _product_dirs(root):
        try:
            product = find_product(folder, name)
        except (FileNotFoundError, ValueError) as err:
            log.warning("skipped incomplete product: %s", err)
            continue
        meta = read_metadata(product.metadata)
        if not t0 <= meta.time_start < t1:
            continue
        with rasterio.open(product.spectral_image) as src:
            box = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
        if box[0] > e or box[2] < w or box[1] > n or box[3] < s:
            continue
        rows.append(
            {
                "product": name,
                "url": str(folder.resolve()),
                "time_start": meta.time_start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "time_end": meta.time_end.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "west": box[0],
                "south": box[1],
                "east": box[2],
                "north": box[3],
            }
        )
    df = pd.DataFrame(
        rows,
        columns=["product", "url", "time_start", "time_end", "west", "south", "east", "north"],
    )
    df = df.sort_values(["time_start", "product"], ignore_index=True)
    dup = df["product"].duplicated()
    if dup.any():
        log.warning("products found more than once (first kept): %s", df["product"][dup].tolist())
        df = df[~dup].reset_index(drop=True)
    log.info("%s: %d products in %s..%s and bbox %s", root, len(df), start, end, list(bbox))
    return df.head(max_products) if max_products is not None else df


def link_product(directory: PathLike, product: str, out_dir: PathLike) -> Path:
    """Give a delivered product a directory of its own: symbolic links to its files.

    The workflow keeps every product under ``resources/enmap/<product>/``; for the ``local``
    source that directory holds links to the delivered files (nothing is copied). The links are
    made in a temporary sibling directory that is renamed into place, so a failure leaves no
    half-made directory.

    Args:
        directory: Where the product's files are (the manifest's ``url``).
        product: The product name.
        out_dir: The directory to create (replaced if it exists).

    Returns:
        ``out_dir``.

    Raises:
        EnmapProductError: when the product's files are incomplete (names the directory).

    """
    files = find_product(directory, product)
    out = Path(out_dir)
    tmp = out.with_name(f".{out.name}.tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    paths = [files.spectral_image, files.metadata, *files.quality.values()]
    paths += [p for p in (files.labels, files.target) if p is not None]
    for path in paths:
        (tmp / path.name).symlink_to(path.resolve())
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    log.info("linked local product %s from %s into %s", product, directory, out)
    return out
