"""EnMAP L2A products: their files and ``METADATA.XML`` (band centres, FWHM, gains, offsets).

A delivered L2A product is a set of files sharing one name (e.g.
``ENMAP01-____L2A-DT0000001867_20220724T104526Z_008_V010302_20230628T165614Z``), one directory
per product or several products side by side:

- ``<name>-SPECTRAL_IMAGE.TIF``: band-sequential int16 GeoTIFF in a projected CRS (UTM, 30 m);
  raster band ``k`` is EnMAP band ``k`` of the XML; value = DN * gain + offset per band is surface
  reflectance (unitless); DN -32768 is no-data (bad bands, pixels outside the swath);
- ``<name>-METADATA.XML``: per band ``specific/bandCharacterisation/bandID[@number]/``
  ``{wavelengthCenterOfBand, FWHMOfBand, GainOfBand, OffsetOfBand}`` (values differ between
  scenes: always this product's own, never a fixed table), ``base/level``,
  ``base/temporalCoverage/{startTime, stopTime}`` and ``metadata/name``;
- quality layers ``<name>-QL_PIXELMASK.TIF`` and ``<name>-QL_QUALITY_CLOUD.TIF`` (required) and,
  when present, ``QL_QUALITY_CIRRUS``, ``QL_QUALITY_HAZE``, ``QL_QUALITY_CLOUDSHADOW``,
  ``QL_QUALITY_SNOW``: a pixel whose value is non-zero (and not the layer's no-data value) is
  flagged and its reflectance set to NaN. A layer with one raster band per spectral band flags
  per band; any other layer flags a pixel in every band when any of its bands is set.

Task labels are not part of an EnMAP product. For the adaptation experiment a product directory
may carry SpectralEarth-style label rasters on the same grid, named like the product files:

- ``<name>-LABELS.TIF``: integer class index, -1 (or the raster's no-data value) = no label; tag
  ``class_names`` (a JSON list or a comma-separated string, in index order);
- ``<name>-TARGET.TIF``: float32 continuous per-pixel variable (NaN = none); tags ``long_name``
  and ``units``.

The offline demo source (:mod:`spectm.sources.enmap.demo`) writes both; for real products the user
supplies them (``gdal_edit.py -mo class_names='["a","b"]' X-LABELS.TIF`` sets a tag).

This module finds the files and parses the XML; :mod:`spectm.io.enmap_scene` reads the rasters
and :mod:`spectm.io.enmap_chips` cuts the chips.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from spectm._io import PathLike
from spectm.inputs import MIN_WAVELENGTH_NM

log = logging.getLogger(__name__)

SPECTRAL_IMAGE = "SPECTRAL_IMAGE"
METADATA = "METADATA"
LABELS = "LABELS"
TARGET = "TARGET"
QUALITY_LAYERS: tuple[str, ...] = (
    "QL_PIXELMASK",
    "QL_QUALITY_CLOUD",
    "QL_QUALITY_CIRRUS",
    "QL_QUALITY_HAZE",
    "QL_QUALITY_CLOUDSHADOW",
    "QL_QUALITY_SNOW",
)
"""Quality layers that flag pixels (set to NaN) when present, in this order."""
REQUIRED_QUALITY_LAYERS: tuple[str, ...] = ("QL_PIXELMASK", "QL_QUALITY_CLOUD")
"""Quality layers every product must have."""
FILE_KINDS: tuple[str, ...] = (SPECTRAL_IMAGE, METADATA, *QUALITY_LAYERS, LABELS, TARGET)
"""Every file kind this module reads (``<name>-<KIND>.TIF``, ``.XML`` for METADATA)."""

NODATA_DN = -32768
"""No-data value of the int16 spectral image."""
N_BANDS = 224
"""Bands of the EnMAP HSI (VNIR 1-91, SWIR 92-224)."""
WATER_VAPOUR_BANDS: tuple[int, ...] = (*range(127, 142), *range(161, 168))
"""1-based EnMAP bands in the 1.4 um and 1.9 um water-vapour absorptions (22 bands)."""
DEFAULT_BANDS: tuple[int, ...] = tuple(
    b for b in range(1, N_BANDS + 1) if b not in WATER_VAPOUR_BANDS
)
"""The 202-band subset (SpectralEarth, TerraMind HSI paper): all but :data:`WATER_VAPOUR_BANDS`."""

_XML_BAND = "specific/bandCharacterisation/bandID"
_BAND_FIELDS = {
    "wavelengthCenterOfBand": "wavelength_nm",
    "FWHMOfBand": "fwhm_nm",
    "GainOfBand": "gain",
    "OffsetOfBand": "offset",
}


class EnmapProductError(ValueError):
    """A product's files are missing, unreadable or inconsistent; the message names the path."""


def default_bands() -> list[int]:
    """The default 202-band subset as a list of 1-based band numbers (see :data:`DEFAULT_BANDS`)."""
    return list(DEFAULT_BANDS)


def describe_bands(bands: Sequence[int]) -> str:
    """Short description of a band subset, e.g. ``"202 bands: 1-126,142-160,168-224"``.

    Args:
        bands: 1-based band numbers (any order).

    Returns:
        The count and the sorted numbers as ranges.
    """
    nums = sorted({int(b) for b in bands})
    runs: list[str] = []
    i = 0
    while i < len(nums):
        j = i
        while j + 1 < len(nums) and nums[j + 1] == nums[j] + 1:
            j += 1
        runs.append(str(nums[i]) if i == j else f"{nums[i]}-{nums[j]}")
        i = j + 1
    return f"{len(nums)} bands: " + ",".join(runs)


def product_file_name(product: str, kind: str) -> str:
    """File name of one part of a product: ``<product>-<KIND>.TIF`` (``.XML`` for METADATA)."""
    if kind not in FILE_KINDS:
        raise ValueError(f"unknown EnMAP product file kind {kind!r}; known: {list(FILE_KINDS)}")
    return f"{product}-{kind}.{'XML' if kind == METADATA else 'TIF'}"


def split_file_name(name: str) -> tuple[str, str] | None:
    """``(product, kind)`` of a product file name (case-insensitive suffix), or None."""
    upper = name.upper()
    for kind in FILE_KINDS:
        suffix = f"-{kind}.{'XML' if kind == METADATA else 'TIF'}"
        if upper.endswith(suffix):
            return name[: -len(suffix)], kind
    return None


# --------------------------------------------------------------------------- files


@dataclass(frozen=True)
class EnmapProduct:
    """The files of one L2A product.

    Attributes:
        name: Product name (the common file-name prefix).
        directory: Directory holding the files.
        spectral_image: ``<name>-SPECTRAL_IMAGE.TIF``.
        metadata: ``<name>-METADATA.XML``.
        quality: Quality layers present, by kind (``QL_PIXELMASK``, ...), in
            :data:`QUALITY_LAYERS` order.
        labels: ``<name>-LABELS.TIF`` when present (not part of a real product).
        target: ``<name>-TARGET.TIF`` when present (not part of a real product).
    """

    name: str
    directory: Path
    spectral_image: Path
    metadata: Path
    quality: Mapping[str, Path] = field(default_factory=dict)
    labels: Path | None = None
    target: Path | None = None


def _scan(directory: Path) -> dict[str, dict[str, Path]]:
    """Product name -> {kind: path} of the product files directly in ``directory``."""
    found: dict[str, dict[str, Path]] = {}
    for p in sorted(directory.iterdir()):
        parts = split_file_name(p.name) if p.is_file() else None
        if parts is not None:
            found.setdefault(parts[0], {})[parts[1]] = p
    return found


def list_products(directory: PathLike) -> list[str]:
    """Names of the products with a METADATA.XML or SPECTRAL_IMAGE.TIF directly in ``directory``.

    Raises:
        FileNotFoundError: if ``directory`` is not a directory.
    """
    d = Path(directory)
    if not d.is_dir():
        raise FileNotFoundError(f"EnMAP product directory not found: {d}")
    return sorted(n for n, files in _scan(d).items() if {SPECTRAL_IMAGE, METADATA} & set(files))


def find_product(directory: PathLike, name: str | None = None) -> EnmapProduct:
    """Find one product's files in ``directory`` by their suffixes.

    Args:
        directory: Directory with the product files (one product, or several side by side).
        name: Product name; needed when the directory holds several products.

    Returns:
        The product's files.

    Raises:
        FileNotFoundError: naming the directory and what is missing (no product, the named
            product, its spectral image, metadata or a required quality layer).
        EnmapProductError: when several products are present and ``name`` is not given.
    """
    d = Path(directory)
    if not d.is_dir():
        raise FileNotFoundError(f"EnMAP product directory not found: {d}")
    found = _scan(d)
    products = sorted(n for n, files in found.items() if {SPECTRAL_IMAGE, METADATA} & set(files))
    if name is None:
        if not products:
            raise FileNotFoundError(
                f"{d}: no EnMAP L2A product (no file ending in -{SPECTRAL_IMAGE}.TIF or "
                f"-{METADATA}.XML)"
            )
        if len(products) > 1:
            raise EnmapProductError(f"{d}: holds {len(products)} products {products}; name one")
        name = products[0]
    files = found.get(name, {})
    if not files:
        raise FileNotFoundError(f"{d}: no files of EnMAP product {name!r} (found {products})")
    missing = [
        product_file_name(name, k)
        for k in (SPECTRAL_IMAGE, METADATA, *REQUIRED_QUALITY_LAYERS)
        if k not in files
    ]
    if missing:
        raise FileNotFoundError(f"{d}: EnMAP product {name!r} lacks {missing}")
    return EnmapProduct(
        name=name,
        directory=d,
        spectral_image=files[SPECTRAL_IMAGE],
        metadata=files[METADATA],
        quality={k: files[k] for k in QUALITY_LAYERS if k in files},
        labels=files.get(LABELS),
        target=files.get(TARGET),
    )


# --------------------------------------------------------------------------- METADATA.XML


@dataclass(frozen=True)
class EnmapMetadata:
    """What the reader takes from a product's ``METADATA.XML``.

    Attributes:
        path: The XML file.
        product: Product name (``metadata/name`` without ``-METADATA.XML``; the file-name prefix
            when absent).
        level: ``base/level`` (``"L2A"``).
        time_start: ``base/temporalCoverage/startTime`` (UTC).
        time_end: ``base/temporalCoverage/stopTime`` (UTC).
        bands: One row per band, sorted by band number: ``band`` (1-based int),
            ``wavelength_nm``, ``fwhm_nm``, ``gain``, ``offset`` (value = DN * gain + offset).
        demo: The ``spectm_demo`` note of a generated product, else None.
    """

    path: Path
    product: str
    level: str
    time_start: pd.Timestamp
    time_end: pd.Timestamp
    bands: pd.DataFrame
    demo: str | None = None


def _text(root: ET.Element, xpath: str, path: Path) -> str:
    node = root.find(xpath)
    if node is None or node.text is None or not node.text.strip():
        raise EnmapProductError(f"{path}: element {xpath} is missing or empty")
    return node.text.strip()


def _utc(value: str, xpath: str, path: Path) -> pd.Timestamp:
    try:
        ts = pd.Timestamp(value)
    except ValueError as err:
        raise EnmapProductError(f"{path}: {xpath}={value!r} is not an ISO time") from err
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def read_metadata(xml_path: PathLike) -> EnmapMetadata:
    """Parse a product's ``METADATA.XML`` (standard library ``xml.etree``).

    Args:
        xml_path: The ``-METADATA.XML`` file.

    Returns:
        The product name, level, acquisition times and per-band table.

    Raises:
        FileNotFoundError: if the file does not exist.
        EnmapProductError: naming the file and the XML path of anything missing or malformed:
            not XML, no ``bandID``, a missing or non-numeric value, band numbers that are not
            1..N, band centres in micrometres, a level other than L2A, unreadable times.
    """
    p = Path(xml_path)
    if not p.is_file():
        raise FileNotFoundError(f"EnMAP metadata file not found: {p}")
    try:
        root = ET.parse(p).getroot()
    except ET.ParseError as err:
        raise EnmapProductError(f"{p}: not a readable XML file: {err}") from err
    level = _text(root, "base/level", p)
    if level.upper() != "L2A":
        raise EnmapProductError(f"{p}: base/level is {level!r}, expected 'L2A'")
    start_x, stop_x = "base/temporalCoverage/startTime", "base/temporalCoverage/stopTime"
    start = _utc(_text(root, start_x, p), start_x, p)
    end = _utc(_text(root, stop_x, p), stop_x, p)
    if end < start:
        raise EnmapProductError(f"{p}: {stop_x} {end} is before {start_x} {start}")
    nodes = root.findall(_XML_BAND)
    if not nodes:
        raise EnmapProductError(f"{p}: no {_XML_BAND} elements")
    rows = []
    for node in nodes:
        number = node.get("number")
        where = f"{_XML_BAND}[@number='{number}']"
        try:
            row: dict[str, float | int] = {"band": int(str(number))}
        except ValueError:
            raise EnmapProductError(f"{p}: {where}: attribute number is not an integer") from None
        for tag, col in _BAND_FIELDS.items():
            child = node.find(tag)
            text = None if child is None or child.text is None else child.text.strip()
            try:
                value = float(str(text))
            except ValueError:
                raise EnmapProductError(f"{p}: {where}/{tag} is missing or not a number") from None
            if not np.isfinite(value):
                raise EnmapProductError(f"{p}: {where}/{tag} is not finite: {text!r}")
            row[col] = value
        rows.append(row)
    table = pd.DataFrame(rows).sort_values("band", ignore_index=True)
    numbers = table["band"].to_numpy()
    if not np.array_equal(numbers, np.arange(1, len(table) + 1)):
        raise EnmapProductError(
            f"{p}: {_XML_BAND} numbers must be 1..{len(table)} once each, got "
            f"{numbers.tolist()[:10]}..."
        )
    centres = table["wavelength_nm"]
    if (centres < MIN_WAVELENGTH_NM).all():
        raise EnmapProductError(
            f"{p}: {_XML_BAND}/wavelengthCenterOfBand values {centres.min():g}-"
            f"{centres.max():g} look like micrometres; expected nanometres (e.g. 560, not 0.56)"
        )
    bad = table.index[(table["fwhm_nm"] <= 0) | (table["wavelength_nm"] <= 0)].tolist()
    if bad:
        raise EnmapProductError(
            f"{p}: {_XML_BAND} {table['band'][bad].tolist()}: wavelength and FWHM must be > 0 nm"
        )
    if (table["gain"] == 0).any():
        raise EnmapProductError(
            f"{p}: {_XML_BAND}/GainOfBand is 0 for bands "
            f"{table['band'][table['gain'] == 0].tolist()}"
        )
    name_node = root.find("metadata/name")
    product = (
        name_node.text.strip()
        if name_node is not None and name_node.text and name_node.text.strip()
        else p.name
    )
    parts = split_file_name(product)
    product = parts[0] if parts is not None else product
    demo_node = root.find("spectm_demo")
    demo = demo_node.text.strip() if demo_node is not None and demo_node.text else None
    return EnmapMetadata(
        path=p,
        product=product,
        level=level,
        time_start=start,
        time_end=end,
        bands=table.astype({"band": int}),
        demo=demo,
    )
