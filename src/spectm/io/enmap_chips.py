"""EnMAP chips: a product cut into non-overlapping ``size x size`` tiles in the chip contract.

:func:`make_enmap_chips` reads one strip of ``size`` rows at a time (:mod:`spectm.io.enmap_scene`)
and writes each tile with a valid pixel as one NetCDF chip (:mod:`spectm.io.chips`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from spectm._io import PathLike
from spectm.io.chips import write_chip
from spectm.io.enmap_l2a import (
    find_product,
)
from spectm.io.enmap_scene import EnmapScene, Window, valid_pixels

log = logging.getLogger(__name__)

_CHIP_NAME = re.compile(r"_r(\d+)_c(\d+)\.nc$")


def chip_file_name(product: str, row: int, col: int) -> str:
    """``<product>_r<row>_c<col>.nc`` with the chip's offsets in scene pixels (4+ digits)."""
    return f"{product}_r{row:04d}_c{col:04d}.nc"


def make_enmap_chips(
    product_dir: PathLike,
    out_dir: PathLike,
    *,
    size: int,
    bands: Sequence[int],
    name: str | None = None,
    labels: bool | None = None,
    target: bool | None = None,
    quality_layers: Sequence[str] | None = None,
) -> list[Path]:
    """Tile a product into non-overlapping ``size x size`` chips, each written atomically.

    Tiles start at row/column 0 and step by ``size``; incomplete edge tiles are dropped, and so
    are tiles without a valid pixel (:func:`valid_pixels`). Chips of this product left in
    ``out_dir`` by an earlier run that are not written again are removed.

    Args:
        product_dir: Directory with the product files.
        out_dir: Directory for the chips (created).
        size: Chip edge (pixels), > 0.
        bands: 1-based band numbers (e.g. :data:`DEFAULT_BANDS`; the workflow passes its config).
        name: Product name when the directory holds several.
        labels: Carry ``-LABELS.TIF`` into ``label``: None when present, True required, False no.
        target: Carry ``-TARGET.TIF`` into ``target``: None when present, True required, False no.
        quality_layers: Quality layers to apply (None: every one present).

    Returns:
        The chip files (``<product>_r<row>_c<col>.nc``), in row-major order.

    Raises:
        ValueError: if ``size`` is not positive.
        FileNotFoundError, EnmapProductError: for a missing or inconsistent product (naming the
            file).
    """
    if int(size) <= 0:
        raise ValueError(f"chip size must be > 0 pixels, got {size}")
    size = int(size)
    product = find_product(product_dir, name)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    n_tiles = n_empty = 0
    with EnmapScene(
        product, bands=bands, quality_layers=quality_layers, labels=labels, target=target
    ) as scene:
        ny, nx = scene.shape
        band_seen = np.zeros(len(scene.bands), dtype=bool)
        prefix = scene.meta.product
        for r0 in range(0, ny - size + 1, size):
            strip = scene.read(slice(r0, r0 + size), slice(0, nx - nx % size))
            for c0 in range(0, nx - size + 1, size):
                n_tiles += 1
                cs = slice(c0, c0 + size)
                w = Window(
                    reflectance=strip.reflectance[:, cs],
                    lat=strip.lat[:, cs],
                    lon=strip.lon[:, cs],
                    x=strip.x[cs],
                    y=strip.y,
                    label=None if strip.label is None else strip.label[:, cs],
                    target=None if strip.target is None else strip.target[:, cs],
                )
                if not valid_pixels(w.reflectance).any():
                    n_empty += 1
                    continue
                band_seen |= np.isfinite(w.reflectance).any(axis=(0, 1))
                ds = scene._dataset(w, r0, c0)
                written.append(write_chip(ds, out / chip_file_name(prefix, r0, c0)))
        if written and not band_seen.all():
            log.warning(
                "%s: bands %s are no-data in every chip (kept as NaN)",
                prefix,
                scene.bands["band"][~band_seen].tolist(),
            )
    keep = {p.name for p in written}
    for old in out.glob(f"{_glob_escape(prefix)}_r*_c*.nc"):
        if old.name not in keep and _CHIP_NAME.search(old.name):
            old.unlink()
            log.info("removed stale chip %s", old)
    log.info(
        "%s: %d chips of %d x %d px written to %s (%d of %d full tiles had no valid pixel; "
        "scene %d x %d)",
        prefix, len(written), size, size, out, n_empty, n_tiles, ny, nx,
    )  # fmt: skip
    return written


def _glob_escape(text: str) -> str:
    """Escape ``glob`` wildcards (``*?[``) in a literal file-name part."""
    return re.sub(r"([*?\[])", r"[\1]", text)


def chip_files(directories: Sequence[PathLike]) -> list[Path]:
    """Every chip file (``*.nc``) in the given chip directories, sorted by name.

    Raises:
        FileNotFoundError: naming a directory that does not exist.

    """
    out: list[Path] = []
    for d in map(Path, directories):
        if not d.is_dir():
            raise FileNotFoundError(f"EnMAP chip directory not found: {d}")
        out += sorted(d.glob("*.nc"))
    return sorted(out, key=lambda p: p.name)
