"""EnMAP L2A products from three sources behind one interface: a manifest, then the products.

``demo`` (default, offline; :mod:`~spectm.sources.enmap.demo`) writes synthetic products in the
real file structure; ``stac`` (:mod:`~spectm.sources.enmap.stac`) searches the DLR EOC STAC API
and downloads each product's files; ``local`` (:mod:`~spectm.sources.enmap.local`) lists products
already delivered to a directory and reads them in place. All three write the same manifest
columns (:data:`MANIFEST_COLUMNS`), so everything downstream is identical:

* :func:`write_product_manifest` -- the manifest CSV for a period and AOI (a Snakemake checkpoint);
* :func:`fetch_product` -- one product of the manifest into its directory (one job per product);
* :func:`product_directory` -- where a product's files are (``local``: where they were found;
  otherwise ``<root>/<product>``), the input of :func:`spectm.io.enmap_chips.make_enmap_chips`.

Manifest columns: ``product`` (name, the files' common prefix), ``url`` (``demo:enmap/<product>``,
the STAC item's self link, or the local product directory), ``time_start``/``time_end`` (UTC,
``YYYY-MM-DDTHH:MM:SSZ``), ``west``/``south``/``east``/``north`` (the product's lon/lat box,
degrees), ``collection``, ``source`` and, for ``stac``, ``size_bytes`` and ``assets`` (JSON).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from spectm._io import PathLike, write_csv
from spectm.io.enmap_l2a import find_product
from spectm.sources.enmap import demo, local, stac
from spectm.sources.enmap.demo import DemoSettings

__all__ = [
    "MANIFEST_COLUMNS",
    "SOURCES",
    "DemoSettings",
    "fetch_product",
    "product_directory",
    "read_product_manifest",
    "write_product_manifest",
]

log = logging.getLogger(__name__)

SOURCES: tuple[str, ...] = ("demo", "local", "stac")
"""Values of the ``enmap.source`` setting."""
MANIFEST_COLUMNS: tuple[str, ...] = (
    "product",
    "url",
    "time_start",
    "time_end",
    "west",
    "south",
    "east",
    "north",
    "collection",
    "source",
    "size_bytes",
    "assets",
)
"""Columns of every EnMAP manifest, in order (``size_bytes``/``assets`` empty unless ``stac``)."""
REQUIRED_MANIFEST_COLUMNS: tuple[str, ...] = ("product", "url", "time_start", "time_end", "source")


def _check_source(source: str) -> None:
    if source not in SOURCES:
        raise ValueError(f"config key 'enmap.source': unknown source {source!r}; use {SOURCES}")


def write_product_manifest(
    out_path: PathLike,
    *,
    source: str,
    start: str,
    end: str,
    bbox: Sequence[float],
    max_products: int | None,
    demo_settings: DemoSettings,
    stac_url: str,
    collection: str,
    local_dir: PathLike | None,
) -> Path:
    """Write the product manifest of ``source`` for a period and AOI (atomically).

    Args:
        out_path: Manifest CSV to write.
        source: ``demo``, ``local`` or ``stac``.
        start: First day (``YYYY-MM-DD``, UTC, inclusive).
        end: Last day (inclusive).
        bbox: AOI (west, south, east, north), degrees.
        max_products: Keep only the first N products (None: all).
        demo_settings: The demo source's settings (``n_products``, ``seed``, ``shape``).
        stac_url: STAC API root (``stac``), e.g. :data:`spectm.sources.enmap.stac.DLR_STAC_URL`.
        collection: STAC collection (``stac``), e.g. ``ENMAP_HSI_L2A``.
        local_dir: Directory of delivered products (``local``; None otherwise).

    Returns:
        The written manifest.

    Raises:
        ValueError: for an unknown source, or ``local`` without ``local_dir``.
        RuntimeError: when no product was found.
    """
    _check_source(source)
    if source == "demo":
        df = demo.demo_manifest(
            start=start,
            end=end,
            bbox=bbox,
            n_products=int(demo_settings.n_products),
            seed=int(demo_settings.seed),
            shape=tuple(int(v) for v in demo_settings.shape),
            max_products=max_products,
        )
        df["collection"] = stac.COLLECTION
    elif source == "local":
        if local_dir is None:
            raise ValueError("config key 'enmap.local_dir' is required for source 'local'")
        df = local.local_manifest(
            local_dir, start=start, end=end, bbox=bbox, max_products=max_products
        )
        df["collection"] = stac.COLLECTION
    else:
        df = stac.search_products(
            url=stac_url,
            collection=collection,
            start=start,
            end=end,
            bbox=bbox,
            max_items=max_products,
        )
    if df.empty:
        where = {"local": f"in {local_dir}", "stac": f"at {stac_url} {collection}"}.get(source, "")
        raise RuntimeError(
            f"no EnMAP L2A products {where} for {start}..{end} in bbox {list(bbox)} "
            f"(source {source})"
        )
    df["source"] = source
    for col in MANIFEST_COLUMNS:
        if col not in df.columns:
            df[col] = pd.NA
    log.info("%d EnMAP products in the manifest (source %s)", len(df), source)
    return write_csv(df[list(MANIFEST_COLUMNS)], out_path)


def read_product_manifest(path: PathLike) -> pd.DataFrame:
    """Read a manifest written by :func:`write_product_manifest`.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: naming the file and the missing columns or repeated products.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"EnMAP manifest not found: {p}")
    df = pd.read_csv(p, dtype={"product": str, "url": str, "source": str, "assets": str})
    missing = [c for c in REQUIRED_MANIFEST_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{p}: manifest lacks columns {missing}")
    dup = df["product"][df["product"].duplicated()].tolist()
    if dup:
        raise ValueError(f"{p}: products listed twice: {dup}")
    return df


def _row(manifest_path: PathLike, product: str) -> pd.Series:
    manifest = read_product_manifest(manifest_path)
    rows = manifest[manifest["product"] == product]
    if rows.empty:
        raise KeyError(f"{manifest_path}: product {product!r} is not in the manifest")
    return rows.iloc[0]


def product_directory(manifest_path: PathLike, product: str, *, root: PathLike) -> Path:
    """The directory holding a product's files.

    Args:
        manifest_path: The manifest.
        product: A ``product`` of the manifest.
        root: Directory under which ``demo`` and ``stac`` products are fetched.

    Returns:
        ``local``: the directory where the product was found (read in place, nothing copied);
        otherwise ``<root>/<product>``.
    """
    row = _row(manifest_path, product)
    if row["source"] == "local":
        return Path(str(row["url"]))
    return Path(root) / product


def fetch_product(
    manifest_path: PathLike,
    product: str,
    *,
    root: PathLike,
    source: str,
    retries: int,
    demo_settings: DemoSettings,
    link_into: PathLike | None = None,
) -> Path:
    """Make one product of the manifest available as a directory of product files.

    ``demo`` writes it, ``stac`` downloads it (credentials from the environment or netrc),
    ``local`` only checks that its files are complete where they are.

    Args:
        manifest_path: Manifest written by :func:`write_product_manifest`.
        product: A ``product`` of the manifest.
        root: Directory under which ``demo``/``stac`` products go (``<root>/<product>``).
        source: The manifest's source.
        retries: Download retries per file (``stac``).
        demo_settings: ``shape``, ``seed``, ``cloud_fraction`` (``demo``).
        link_into: ``local`` only: also give the product a directory of its own here, of
            symbolic links to its files (:func:`spectm.sources.enmap.local.link_product`; the
            workflow keeps every product under ``resources/enmap/<product>``).

    Returns:
        The product directory (:func:`product_directory`; ``link_into`` when given).

    Raises:
        KeyError: ``product`` is not in the manifest.
        ValueError: for an unknown source or one that differs from the manifest's.
    """
    _check_source(source)
    row = _row(manifest_path, product)
    if row["source"] != source:
        raise ValueError(
            f"{manifest_path}: product {product!r} comes from source {row['source']!r}, "
            f"not {source!r} (config key 'enmap.source' changed? rebuild the manifest)"
        )
    out = product_directory(manifest_path, product, root=root)
    if source == "local":
        find_product(out, product)
        if link_into is not None:
            return local.link_product(out, product, link_into)
        log.info("local product %s is read in place from %s", product, out)
        return out
    if source == "demo":
        centre = (
            (float(row["west"]) + float(row["east"])) / 2,
            (float(row["south"]) + float(row["north"])) / 2,
        )
        return demo.write_demo_product(
            product,
            out,
            shape=tuple(int(v) for v in demo_settings.shape),
            seed=int(demo_settings.seed),
            cloud_fraction=float(demo_settings.cloud_fraction),
            centre_lonlat=centre,
            time_start=str(row["time_start"]),
        )
    return stac.download_product({str(k): v for k, v in row.items()}, out, retries=retries)
