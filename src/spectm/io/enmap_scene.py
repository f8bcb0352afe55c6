"""EnMAP L2A reflectance: rasters of a product read in windows (rioxarray), masks applied.

:class:`EnmapScene` reads a product's spectral image in windows: DN * gain + offset of this
product's own ``METADATA.XML`` (:mod:`spectm.io.enmap_l2a`), DN -32768 and pixels flagged by the
quality layers to NaN, the band subset ordered by band centre, lat/lon of every pixel, and the
task labels and target when the product directory has them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
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
from spectm.io.chips import ENMAP_SENSOR
from spectm.io.enmap_l2a import (
    LABELS,
    NODATA_DN,
    QUALITY_LAYERS,
    TARGET,
    EnmapProduct,
    EnmapProductError,
    describe_bands,
    find_product,
    product_file_name,
    read_metadata,
)

log = logging.getLogger(__name__)


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
class Window:
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

    def read(self, rows: slice, cols: slice) -> Window:
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
        return Window(
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

    def _dataset(self, w: Window, row: int, col: int) -> xr.Dataset:
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
