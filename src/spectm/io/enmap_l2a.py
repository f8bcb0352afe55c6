"""EnMAP L2A products: find their files, parse ``METADATA.XML``, read reflectance, cut chips.

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

:func:`make_enmap_chips` cuts a product into non-overlapping ``size x size`` chips in the EnMAP
chip contract (:mod:`spectm.io.chips`), reading one strip of ``size`` rows at a time.
"""

from __future__ import annotations

import json
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import rioxarray
import xarray as xr
from affine import Affine
from numpy.typing import NDArray
from pyproj import CRS, Transformer

from spectm._io import PathLike
from spectm.io.chips import ENMAP_SENSOR, write_chip

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
_CHIP_NAME = re.compile(r"_r(\d+)_c(\d+)\.nc$")


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
            1..N, a level other than L2A, unreadable times.
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


# --------------------------------------------------------------------------- raster reader


def _class_names(value: object, path: Path) -> list[str]:
    if value is None:
        raise EnmapProductError(
            f"{path}: tag 'class_names' is missing (a JSON list or comma-separated names in "
            'index order; e.g. gdal_edit.py -mo class_names=\'["water","forest"]\')'
        )
    text = str(value).strip()
    try:
        names = json.loads(text) if text.startswith("[") else text.split(",")
    except json.JSONDecodeError as err:
        raise EnmapProductError(f"{path}: tag 'class_names' is not a JSON list: {err}") from err
    names = [str(n).strip() for n in names]
    if not names or any(not n for n in names):
        raise EnmapProductError(f"{path}: tag 'class_names' holds an empty name: {text!r}")
    return names


def _open(path: Path) -> xr.DataArray:
    try:
        da = rioxarray.open_rasterio(path, cache=False)
    except Exception as err:  # rasterio raises its own error classes
        raise EnmapProductError(f"{path}: not a readable GeoTIFF: {err}") from err
    if not isinstance(da, xr.DataArray) or da.dims != ("band", "y", "x"):
        raise EnmapProductError(f"{path}: expected one (band, y, x) raster")
    return da


def _same_grid(da: xr.DataArray, ref: xr.DataArray, path: Path, ref_path: Path) -> None:
    if (da.sizes["y"], da.sizes["x"]) != (ref.sizes["y"], ref.sizes["x"]):
        raise EnmapProductError(
            f"{path}: {da.sizes['y']} x {da.sizes['x']} pixels, but {ref_path.name} has "
            f"{ref.sizes['y']} x {ref.sizes['x']}"
        )
    if not np.allclose(tuple(da.rio.transform()), tuple(ref.rio.transform())):
        raise EnmapProductError(f"{path}: its geotransform differs from that of {ref_path.name}")


@dataclass
class _Window:
    """Arrays of one window, ``(y, x, ...)``."""

    reflectance: NDArray[np.float32]
    lat: NDArray[np.float64]
    lon: NDArray[np.float64]
    x: NDArray[np.float64]
    y: NDArray[np.float64]
    label: NDArray[np.int16] | None
    target: NDArray[np.float32] | None


class EnmapScene:
    """An open L2A product with a band subset, read window by window.

    Opens the files lazily (rioxarray) and checks them against the metadata once; :meth:`read`
    then reads any window. Use as a context manager (closes the files).

    Attributes:
        product: The product's files.
        meta: Its parsed metadata.
        bands: The selected bands, sorted by wavelength: ``band``, ``wavelength_nm``, ``fwhm_nm``,
            ``gain``, ``offset``.
        shape: ``(ny, nx)`` of the scene.
        crs: The image CRS.
        quality_layers: The quality layers applied.
        class_names: Label classes (when labels are read), else None.
        target_attrs: ``long_name`` and ``units`` of the target (when read), else None.
    """

    def __init__(
        self,
        product: EnmapProduct,
        *,
        bands: Sequence[int],
        quality_layers: Sequence[str] | None = None,
        labels: bool | None = None,
        target: bool | None = None,
    ) -> None:
        """Open a product.

        Args:
            product: From :func:`find_product`.
            bands: 1-based band numbers to read (any order; returned sorted by wavelength).
            quality_layers: Quality layers to apply (subset of :data:`QUALITY_LAYERS`); None:
                every one present. A named layer that the product lacks is an error.
            labels: Read ``-LABELS.TIF``: None when present, True required, False never.
            target: Read ``-TARGET.TIF``: None when present, True required, False never.

        Raises:
            EnmapProductError: for bands not in the XML, repeated bands, equal centres, files
                that disagree with the XML or with each other (each naming the file).
            FileNotFoundError: for a required label/target raster or quality layer not present.
        """
        self.product = product
        self.meta = read_metadata(product.metadata)
        self.bands = self._select(bands)
        self._opened: list[xr.DataArray] = []
        img = self._track(_open(product.spectral_image))
        n_xml = len(self.meta.bands)
        if img.sizes["band"] != n_xml:
            self.close()
            raise EnmapProductError(
                f"{product.spectral_image}: {img.sizes['band']} raster bands, but "
                f"{product.metadata.name} describes {n_xml}"
            )
        if img.dtype != np.int16:
            self.close()
            raise EnmapProductError(
                f"{product.spectral_image}: data type {img.dtype}, expected int16"
            )
        self._image = img
        self.shape = (int(img.sizes["y"]), int(img.sizes["x"]))
        crs = img.rio.crs
        if crs is None:
            self.close()
            raise EnmapProductError(f"{product.spectral_image}: has no CRS")
        self.crs = CRS.from_user_input(crs.to_wkt())
        self._transform: Affine = img.rio.transform()
        self._to_lonlat = Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True)
        nodata = img.rio.nodata
        self._nodata = {NODATA_DN} | ({int(nodata)} if nodata is not None else set())
        self.quality_layers = self._quality_names(quality_layers)
        self._quality: dict[str, xr.DataArray] = {}
        try:
            for kind in self.quality_layers:
                path = product.quality[kind]
                da = self._track(_open(path))
                _same_grid(da, img, path, product.spectral_image)
                self._quality[kind] = da
            self._labels, self.class_names = self._optional(product.labels, labels, LABELS)
            self._target, self.target_attrs = self._optional(product.target, target, TARGET)
        except Exception:
            self.close()
            raise

    def _track(self, da: xr.DataArray) -> xr.DataArray:
        self._opened.append(da)
        return da

    def _select(self, bands: Sequence[int]) -> pd.DataFrame:
        want = [int(b) for b in bands]
        if not want:
            raise EnmapProductError(f"{self.product.directory}: the band subset is empty")
        dup = sorted({b for b in want if want.count(b) > 1})
        if dup:
            raise EnmapProductError(f"band subset repeats bands {dup}")
        table = self.meta.bands.set_index("band")
        missing = [b for b in want if b not in table.index]
        if missing:
            raise EnmapProductError(
                f"{self.meta.path}: bands {missing} are not among its {len(table)} bandIDs"
            )
        sel = table.loc[want].reset_index().sort_values("wavelength_nm", kind="stable")
        wl = sel["wavelength_nm"].to_numpy()
        ties = np.flatnonzero(np.diff(wl) <= 0)
        if ties.size:
            i = int(ties[0])
            raise EnmapProductError(
                f"{self.meta.path}: bands {int(sel['band'].iloc[i])} and "
                f"{int(sel['band'].iloc[i + 1])} have the same centre {wl[i]} nm"
            )
        return sel.reset_index(drop=True)

    def _quality_names(self, names: Sequence[str] | None) -> tuple[str, ...]:
        if names is None:
            return tuple(self.product.quality)
        unknown = [n for n in names if n not in QUALITY_LAYERS]
        if unknown:
            raise EnmapProductError(
                f"unknown quality layers {unknown}; known: {list(QUALITY_LAYERS)}"
            )
        absent = [n for n in names if n not in self.product.quality]
        if absent:
            raise FileNotFoundError(
                f"{self.product.directory}: product {self.product.name!r} lacks the quality "
                f"layers {[product_file_name(self.product.name, n) for n in absent]}"
            )
        return tuple(n for n in QUALITY_LAYERS if n in names)

    def _optional(
        self, path: Path | None, wanted: bool | None, kind: str
    ) -> tuple[xr.DataArray | None, Any]:
        if wanted is False or (path is None and wanted is None):
            return None, None
        if path is None:
            raise FileNotFoundError(
                f"{self.product.directory}: no {product_file_name(self.product.name, kind)} "
                "(task labels are not part of an EnMAP product; supply them on the product grid)"
            )
        da = self._track(_open(path))
        _same_grid(da, self._image, path, self.product.spectral_image)
        if da.sizes["band"] != 1:
            raise EnmapProductError(f"{path}: {da.sizes['band']} bands, expected 1")
        if kind == LABELS:
            if not np.issubdtype(da.dtype, np.integer):
                raise EnmapProductError(f"{path}: data type {da.dtype}, expected an integer type")
            return da, _class_names(da.attrs.get("class_names"), path)
        missing = [t for t in ("long_name", "units") if t not in da.attrs]
        if missing:
            raise EnmapProductError(
                f"{path}: tags {missing} are missing (e.g. gdal_edit.py -mo units=1 "
                "-mo long_name='vegetation fraction')"
            )
        return da, {"long_name": str(da.attrs["long_name"]), "units": str(da.attrs["units"])}

    def close(self) -> None:
        """Close every open file."""
        for da in self._opened:
            da.close()
        self._opened = []

    def __enter__(self) -> EnmapScene:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def read(self, rows: slice, cols: slice) -> _Window:
        """Read one window.

        Args:
            rows: Row slice (scene pixels; ``step`` not allowed).
            cols: Column slice.

        Returns:
            Reflectance ``(ny, nx, n_bands)`` float32 (NaN: no-data or flagged), pixel-centre
            lat/lon ``(ny, nx)`` (degrees), projected x ``(nx,)``/y ``(ny,)`` (CRS units) and the
            label/target windows when read.
        """
        idx = (self.bands["band"].to_numpy() - 1).tolist()
        dn = self._image.isel(band=idx, y=rows, x=cols).to_numpy()  # (n_bands, ny, nx)
        nodata = np.isin(dn, list(self._nodata))
        gain = self.bands["gain"].to_numpy(np.float32)[:, None, None]
        offset = self.bands["offset"].to_numpy(np.float32)[:, None, None]
        refl = dn.astype(np.float32) * gain + offset
        refl[nodata] = np.nan
        n_img = self._image.sizes["band"]
        for da in self._quality.values():
            q = da.isel(y=rows, x=cols)
            nd = da.rio.nodata
            if da.sizes["band"] == n_img:
                qv = q.isel(band=idx).to_numpy()
                flag = (qv != 0) if nd is None else (qv != 0) & (qv != nd)
                refl[flag] = np.nan
            else:
                qv = q.to_numpy()
                flag = (qv != 0) if nd is None else (qv != 0) & (qv != nd)
                refl[:, flag.any(axis=0)] = np.nan
        ny, nx = refl.shape[1:]
        r0 = rows.start or 0
        c0 = cols.start or 0
        cc, rr = np.meshgrid(np.arange(c0, c0 + nx) + 0.5, np.arange(r0, r0 + ny) + 0.5)
        t = self._transform
        xs = t.a * cc + t.b * rr + t.c
        ys = t.d * cc + t.e * rr + t.f
        lon, lat = self._to_lonlat.transform(xs, ys)
        label = target = None
        if self._labels is not None:
            lab = self._labels.isel(band=0, y=rows, x=cols).to_numpy().astype(np.int64)
            nd = self._labels.rio.nodata
            if nd is not None and np.isfinite(nd):
                lab[lab == int(nd)] = -1  # the raster's own no-data value means "no label"
            n_cls = len(self.class_names or [])
            bad = (lab < -1) | (lab >= n_cls)
            if bad.any():
                raise EnmapProductError(
                    f"{self.product.labels}: label values {np.unique(lab[bad])[:5].tolist()} "
                    f"outside -1..{n_cls - 1} (tag class_names has {n_cls} classes)"
                )
            label = lab.astype(np.int16)
        if self._target is not None:
            target = self._target.isel(band=0, y=rows, x=cols).to_numpy().astype(np.float32)
            nd = self._target.rio.nodata
            if nd is not None and np.isfinite(nd):
                target[target == nd] = np.nan
        return _Window(
            reflectance=np.moveaxis(refl, 0, -1),
            lat=np.asarray(lat, dtype=np.float64),
            lon=np.asarray(lon, dtype=np.float64),
            x=np.asarray(xs[0], dtype=np.float64),
            y=np.asarray(ys[:, 0], dtype=np.float64),
            label=label,
            target=target,
        )

    def dataset(self, rows: slice | None = None, cols: slice | None = None) -> xr.Dataset:
        """A window (default: the whole scene) as a dataset in the EnMAP chip contract.

        The window's offset becomes ``chip_row``/``chip_col``. Where a pixel has no valid
        reflectance (see :func:`valid_pixels`) its label is -1 and its target NaN.
        """
        rows = slice(0, self.shape[0]) if rows is None else rows
        cols = slice(0, self.shape[1]) if cols is None else cols
        return self._dataset(self.read(rows, cols), int(rows.start or 0), int(cols.start or 0))

    def _dataset(self, w: _Window, row: int, col: int) -> xr.Dataset:
        b = self.bands
        valid = valid_pixels(w.reflectance)
        data_vars: dict[str, Any] = {
            "reflectance": (
                ("y", "x", "wavelength"),
                w.reflectance,
                {
                    "long_name": "surface reflectance (DN * GainOfBand + OffsetOfBand)",
                    "standard_name": "surface_bidirectional_reflectance",
                    "units": "1",
                },
            )
        }
        if w.label is not None:
            data_vars["label"] = (
                ("y", "x"),
                np.where(valid, w.label, -1).astype(np.int16),
                {
                    "long_name": "class index (-1: no label or no valid reflectance)",
                    "class_names": list(self.class_names or []),
                    "source_file": str(self.product.labels),
                },
            )
        if w.target is not None:
            data_vars["target"] = (
                ("y", "x"),
                np.where(valid, w.target, np.nan).astype(np.float32),
                {**(self.target_attrs or {}), "source_file": str(self.product.target)},
            )
        lon_min, lon_max = float(np.min(w.lon)), float(np.max(w.lon))
        lat_min, lat_max = float(np.min(w.lat)), float(np.max(w.lat))
        attrs: dict[str, Any] = {
            "Conventions": "CF-1.8",
            "title": f"EnMAP L2A chip of {self.meta.product}",
            "units": "1",
            "sensor": ENMAP_SENSOR,
            "product": self.meta.product,
            "source_file": str(self.product.spectral_image.resolve()),
            "metadata_file": str(self.product.metadata.resolve()),
            "processing_level": "L2A",
            "time_coverage_start": _iso(self.meta.time_start),
            "time_coverage_end": _iso(self.meta.time_end),
            "bbox": np.asarray([lon_min, lat_min, lon_max, lat_max], dtype=np.float64),
            "chip_row": np.int64(row),
            "chip_col": np.int64(col),
            "bands": describe_bands(b["band"].tolist()),
            "quality_layers_applied": " ".join(self.quality_layers),
            "crs": self.crs.to_string(),
            "n_valid_pixels": np.int64(valid.sum()),
        }
        if self.meta.demo is not None:
            attrs["spectm_demo"] = self.meta.demo
        return xr.Dataset(
            data_vars=data_vars,
            coords={
                "wavelength": (
                    "wavelength",
                    b["wavelength_nm"].to_numpy(np.float64),
                    {"units": "nm", "long_name": "band centre (METADATA wavelengthCenterOfBand)"},
                ),
                "fwhm": (
                    "wavelength",
                    b["fwhm_nm"].to_numpy(np.float64),
                    {"units": "nm", "long_name": "band FWHM (METADATA.XML FWHMOfBand)"},
                ),
                "band": (
                    "wavelength",
                    b["band"].to_numpy(np.int32),
                    {"long_name": "EnMAP band number (1-based, METADATA.XML bandID@number)"},
                ),
                "gain": ("wavelength", b["gain"].to_numpy(np.float64), {"units": "1"}),
                "offset": ("wavelength", b["offset"].to_numpy(np.float64), {"units": "1"}),
                "lat": (
                    ("y", "x"),
                    w.lat,
                    {"units": "degrees_north", "standard_name": "latitude"},
                ),
                "lon": (
                    ("y", "x"),
                    w.lon,
                    {"units": "degrees_east", "standard_name": "longitude"},
                ),
                "x": ("x", w.x, {"standard_name": "projection_x_coordinate", "units": "m"}),
                "y": ("y", w.y, {"standard_name": "projection_y_coordinate", "units": "m"}),
            },
            attrs=attrs,
        )


def _iso(ts: pd.Timestamp) -> str:
    return ts.tz_convert("UTC").strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def valid_pixels(reflectance: NDArray[np.floating]) -> NDArray[np.bool_]:
    """Pixels with valid reflectance, ``(y, x)``.

    A pixel is valid when it is finite in every band that is finite somewhere in the window, so
    that bands that are no-data throughout (bad bands) do not invalidate every pixel.

    Args:
        reflectance: ``(y, x, n_bands)``.
    """
    finite = np.isfinite(reflectance)
    good = finite.any(axis=(0, 1))
    if not good.any():
        return np.zeros(reflectance.shape[:2], dtype=bool)
    return np.asarray(finite[..., good].all(axis=-1))


def read_product(
    product_dir: PathLike,
    *,
    bands: Sequence[int],
    name: str | None = None,
    quality_layers: Sequence[str] | None = None,
) -> xr.Dataset:
    """Read a whole product into memory as one dataset in the EnMAP chip contract.

    Args:
        product_dir: Directory with the product files.
        bands: 1-based band numbers (e.g. :data:`DEFAULT_BANDS`); sorted by wavelength.
        name: Product name when the directory holds several.
        quality_layers: Quality layers to apply (None: every one present).

    Returns:
        ``reflectance (y, x, wavelength)`` float32 and coordinates as in a chip; labels and
        target when the directory has them. Memory: about ``ny * nx * len(bands) * 6`` bytes.
    """
    with EnmapScene(
        find_product(product_dir, name), bands=bands, quality_layers=quality_layers
    ) as scene:
        return scene.dataset()


# --------------------------------------------------------------------------- chips


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
                w = _Window(
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
