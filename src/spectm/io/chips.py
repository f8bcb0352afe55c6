"""The chip contract: one AOI subset of one granule or scene, as NetCDF-4 (h5netcdf engine).

Two kinds of chip share this module: PACE OCI chips (below) and EnMAP L2A chips (further below);
:func:`chip_sensor` tells them apart (``sensor`` attribute ``"EnMAP"``, or no ``sensor`` and a
``reflectance`` variable without ``Rrs``). A PACE chip holds

- ``Rrs`` ``(y, x, wavelength)`` float32, sr-1, NaN where invalid (flagged, fill, land, cloud);
- coordinate ``wavelength`` (nm, float64, strictly increasing: the granule's ``wavelength_3d``);
- 2-D coordinates ``lat``/``lon`` ``(y, x)`` in degrees, defined for every pixel (flagged ones too);
- ``l2_flags`` ``(y, x)`` int32 with the granule's original bits and its ``flag_masks`` /
  ``flag_meanings``;
- attributes ``units`` (``"sr-1"``), ``sensor`` (``"PACE_OCI"``), ``granule`` (file name),
  ``source_file``, ``processing_version`` (e.g. ``"3.0"``), ``time_coverage_start`` /
  ``time_coverage_end`` (ISO 8601 UTC), ``flags_applied`` (space-separated l2_flags names set to
  NaN) and ``bbox`` (lon_min, lat_min, lon_max, lat_max; degrees).

Other variables and coordinates (``line``/``pixel`` indices in the granule) may be present.

An EnMAP L2A chip (one ``size x size`` tile of a scene, :mod:`spectm.io.enmap_l2a`) holds

- ``reflectance`` ``(y, x, wavelength)`` float32, surface reflectance, units ``"1"``, NaN where
  invalid (no-data, quality-flagged);
- coordinates ``wavelength`` (nm, float64, strictly increasing: the scene's own band centres),
  ``fwhm`` ``(wavelength,)`` (nm, > 0), ``band`` ``(wavelength,)`` integer (1-based EnMAP band
  number, unique), 2-D ``lat``/``lon`` ``(y, x)`` in degrees for every pixel;
- optionally ``label`` ``(y, x)`` int16 (class index, -1 = no label; attribute ``class_names``
  listing the classes in index order) and ``target`` ``(y, x)`` float32 (a continuous per-pixel
  variable; attributes ``long_name`` and ``units``);
- attributes ``units`` (``"1"``), ``sensor`` (``"EnMAP"``), ``product``, ``source_file``,
  ``processing_level`` (``"L2A"``), ``time_coverage_start`` / ``time_coverage_end`` (ISO 8601
  UTC), ``bbox`` (lon_min, lat_min, lon_max, lat_max; degrees), ``chip_row`` / ``chip_col``
  (offsets of the chip in scene pixels, >= 0) and ``bands`` (the band subset's description);
  ``spectm_demo`` on generated data.

This module is the one place that reads chips: :func:`read_chip_file` (the whole dataset, checked
against the contract; both kinds), :func:`read_enmap_chip` (an EnMAP chip),
:func:`read_chip_header` / :func:`read_chip_headers` (PACE metadata only) and
:func:`load_chip_pixels` (flat PACE pixel arrays for matchups, pairs, the corpus and maps).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from spectm._io import PathLike, write_netcdf
from spectm.inputs import MIN_WAVELENGTH_NM, RRS_MAX_SR

REQUIRED_ATTRS: tuple[str, ...] = (
    "units",
    "sensor",
    "granule",
    "source_file",
    "processing_version",
    "time_coverage_start",
    "time_coverage_end",
    "flags_applied",
    "bbox",
)
"""Global attributes of a PACE chip."""

PACE_SENSOR = "PACE_OCI"
ENMAP_SENSOR = "EnMAP"

ENMAP_REQUIRED_ATTRS: tuple[str, ...] = (
    "units",
    "sensor",
    "product",
    "source_file",
    "processing_level",
    "time_coverage_start",
    "time_coverage_end",
    "bbox",
    "chip_row",
    "chip_col",
    "bands",
)
"""Global attributes of an EnMAP chip."""


class ChipContractError(ValueError):
    """A dataset violates the chip contract; the message lists every violation."""


def chip_sensor(ds: xr.Dataset) -> str:
    """Which contract a chip follows: ``"EnMAP"`` or ``"PACE_OCI"``.

    EnMAP when the ``sensor`` attribute says so, or when there is no ``sensor`` attribute and
    the dataset has a ``reflectance`` variable but no ``Rrs``; PACE otherwise (so any other
    dataset is checked, and reported, exactly as a PACE chip).
    """
    if ds.attrs.get("sensor") == ENMAP_SENSOR:
        return ENMAP_SENSOR
    if "sensor" not in ds.attrs and "reflectance" in ds.data_vars and "Rrs" not in ds.data_vars:
        return ENMAP_SENSOR
    return PACE_SENSOR


def _lat_lon_problems(ds: xr.Dataset) -> list[str]:
    out: list[str] = []
    for name, lo, hi in (("lat", -90.0, 90.0), ("lon", -180.0, 180.0)):
        if name not in ds.coords:
            out.append(f"coordinate '{name}' is missing")
            continue
        v = ds[name]
        if v.dims != ("y", "x"):
            out.append(f"{name} dims are {v.dims}, expected ('y', 'x')")
        values = np.asarray(v.values, dtype=float)
        if not np.isfinite(values).all():
            out.append(f"{name} must be defined for every pixel (found NaN)")
        elif values.size and (values.min() < lo or values.max() > hi):
            out.append(f"{name} outside [{lo}, {hi}] degrees")
    return out


def _wavelength_problems(ds: xr.Dataset) -> list[str]:
    if "wavelength" not in ds.coords:
        return ["coordinate 'wavelength' is missing"]
    wl = ds["wavelength"]
    if wl.dims != ("wavelength",) or wl.dtype != np.float64:
        return [f"wavelength must be 1-D float64 (nm), got dims {wl.dims} dtype {wl.dtype}"]
    if wl.size and not (np.all(np.isfinite(wl.values)) and np.all(np.diff(wl.values) > 0)):
        return ["wavelength values must be finite and strictly increasing (nm)"]
    if wl.size and np.all(wl.values < MIN_WAVELENGTH_NM):
        return [
            f"wavelength values {float(wl.min()):g}-{float(wl.max()):g} look like micrometres; "
            "expected nanometres"
        ]
    return []


def _time_bbox_problems(ds: xr.Dataset) -> list[str]:
    out: list[str] = []
    for name in ("time_coverage_start", "time_coverage_end"):
        if name in ds.attrs:
            try:
                pd.Timestamp(str(ds.attrs[name]))
            except ValueError:
                out.append(f"attribute {name}={ds.attrs[name]!r} is not an ISO time")
    if "bbox" in ds.attrs and np.asarray(ds.attrs["bbox"]).size != 4:
        out.append(f"attribute bbox must hold 4 numbers, got {ds.attrs['bbox']!r}")
    return out


def _cube_problems(ds: xr.Dataset, name: str, units: str) -> list[str]:
    """The spectral cube ``name``: present, ``(y, x, wavelength)``, float32, in ``units``."""
    if name not in ds.data_vars:
        return [f"variable '{name}' is missing"]
    out: list[str] = []
    cube = ds[name]
    if cube.dims != ("y", "x", "wavelength"):
        out.append(f"{name} dims are {cube.dims}, expected ('y', 'x', 'wavelength')")
    if cube.dtype != np.float32:
        out.append(f"{name} dtype is {cube.dtype}, expected float32")
    if str(cube.attrs.get("units", ds.attrs.get("units"))) != units:
        out.append(f"{name} units must be '{units}'")
    return out


def _enmap_problems(ds: xr.Dataset) -> list[str]:
    out = _cube_problems(ds, "reflectance", "1")
    out += _wavelength_problems(ds)
    for name in ("fwhm", "band"):
        if name not in ds.coords:
            out.append(f"coordinate '{name}' is missing")
        elif ds[name].dims != ("wavelength",):
            out.append(f"{name} dims are {ds[name].dims}, expected ('wavelength',)")
    if "fwhm" in ds.coords:
        fwhm = np.asarray(ds["fwhm"].values, dtype=float)
        if not (np.isfinite(fwhm).all() and (fwhm > 0).all()):
            out.append("fwhm values must be finite and > 0 (nm)")
    if "band" in ds.coords:
        band = ds["band"]
        if not np.issubdtype(band.dtype, np.integer):
            out.append(f"band dtype is {band.dtype}, expected an integer type")
        elif band.size and (band.values.min() < 1 or np.unique(band.values).size != band.size):
            out.append("band values must be unique 1-based EnMAP band numbers")
    out += _lat_lon_problems(ds)
    if "label" in ds.data_vars:
        lab = ds["label"]
        if lab.dims != ("y", "x") or lab.dtype != np.int16:
            out.append(f"label must be (y, x) int16, got {lab.dims} {lab.dtype}")
        names = lab.attrs.get("class_names")
        if names is None:
            out.append("label attribute 'class_names' is missing")
        else:
            n = np.atleast_1d(np.asarray(names)).size
            values = np.asarray(lab.values)
            if values.size and (values.min() < -1 or values.max() >= n):
                out.append(f"label values must lie in -1..{n - 1} ({n} class_names)")
    if "target" in ds.data_vars:
        tgt = ds["target"]
        if tgt.dims != ("y", "x") or tgt.dtype != np.float32:
            out.append(f"target must be (y, x) float32, got {tgt.dims} {tgt.dtype}")
        missing_t = [a for a in ("long_name", "units") if a not in tgt.attrs]
        if missing_t:
            out.append(f"target attributes missing: {missing_t}")
    missing = [a for a in ENMAP_REQUIRED_ATTRS if a not in ds.attrs]
    if missing:
        out.append(f"attributes missing: {missing}")
    if "units" in ds.attrs and str(ds.attrs["units"]) != "1":
        out.append(f"attribute units={ds.attrs['units']!r}, expected '1'")
    if "sensor" in ds.attrs and ds.attrs["sensor"] != ENMAP_SENSOR:
        out.append(f"attribute sensor={ds.attrs['sensor']!r}, expected {ENMAP_SENSOR!r}")
    if "processing_level" in ds.attrs and ds.attrs["processing_level"] != "L2A":
        out.append(f"attribute processing_level={ds.attrs['processing_level']!r}, expected 'L2A'")
    for name in ("chip_row", "chip_col"):
        if name in ds.attrs:
            v = np.asarray(ds.attrs[name])
            if v.size != 1 or not np.issubdtype(v.dtype, np.integer) or int(v) < 0:
                out.append(f"attribute {name}={ds.attrs[name]!r} must be an integer >= 0")
    return out + _time_bbox_problems(ds)


def _problems(ds: xr.Dataset) -> list[str]:
    if chip_sensor(ds) == ENMAP_SENSOR:
        return _enmap_problems(ds)
    out = _cube_problems(ds, "Rrs", "sr-1")
    if "Rrs" in ds.data_vars:
        values = np.asarray(ds["Rrs"].values, dtype=float)
        with np.errstate(invalid="ignore"):
            big = np.isinf(values) | (np.abs(values) > RRS_MAX_SR)
        if big.any():
            out.append(
                f"Rrs holds {int(big.sum())} value(s) with |Rrs| > 1/pi sr-1 (largest "
                f"{float(np.nanmax(np.abs(values))):.6g}); expected Rrs in sr-1"
            )
    out += _wavelength_problems(ds)
    out += _lat_lon_problems(ds)
    if "l2_flags" not in ds.data_vars:
        out.append("variable 'l2_flags' is missing")
    else:
        fl = ds["l2_flags"]
        if fl.dims != ("y", "x") or fl.dtype != np.int32:
            out.append(f"l2_flags must be (y, x) int32, got {fl.dims} {fl.dtype}")
        for attr in ("flag_masks", "flag_meanings"):
            if attr not in fl.attrs:
                out.append(f"l2_flags attribute '{attr}' is missing")
    missing = [a for a in REQUIRED_ATTRS if a not in ds.attrs]
    if missing:
        out.append(f"attributes missing: {missing}")
    if "units" in ds.attrs and ds.attrs["units"] != "sr-1":
        out.append(f"attribute units={ds.attrs['units']!r}, expected 'sr-1'")
    if "sensor" in ds.attrs and ds.attrs["sensor"] != "PACE_OCI":
        out.append(f"attribute sensor={ds.attrs['sensor']!r}, expected 'PACE_OCI'")
    return out + _time_bbox_problems(ds)


def validate_chip(ds: xr.Dataset, *, name: str = "chip") -> xr.Dataset:
    """Check a dataset against the chip contract of its kind (PACE or EnMAP, :func:`chip_sensor`).

    Args:
        ds: The chip.
        name: What to call it in the error (a file path).

    Returns:
        ``ds`` unchanged, so calls can be chained.

    Raises:
        ChipContractError: listing every violation.
    """
    problems = _problems(ds)
    if problems:
        raise ChipContractError(f"{name}: not a valid chip: " + "; ".join(problems))
    return ds


def write_chip(ds: xr.Dataset, path: PathLike) -> Path:
    """Validate a chip and write it atomically as NetCDF-4 (zlib-compressed data variables).

    Args:
        ds: The chip (PACE or EnMAP).
        path: Output file; nothing is written (and an existing file is kept) on failure.

    Returns:
        The final path.

    Raises:
        ChipContractError: if ``ds`` violates the contract.
    """
    validate_chip(ds, name=str(path))
    encoding: dict[str, dict[str, Any]]
    if chip_sensor(ds) == ENMAP_SENSOR:
        encoding = {
            "reflectance": {"zlib": True, "complevel": 4, "shuffle": True, "dtype": "float32"}
        }
        for name in ("label", "target"):
            if name in ds.data_vars:
                encoding[name] = {"zlib": True, "complevel": 4, "shuffle": True}
    else:
        encoding = {
            "Rrs": {"zlib": True, "complevel": 4, "shuffle": True, "dtype": "float32"},
            "l2_flags": {"zlib": True, "complevel": 4},
        }
    return write_netcdf(ds, path, encoding=encoding)


def _open(path: PathLike) -> tuple[Path, xr.Dataset]:
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"chip not found: {p}")
    try:
        return p, xr.open_dataset(p, engine="h5netcdf")
    except (OSError, ValueError) as err:
        raise ChipContractError(f"{p}: not a readable NetCDF-4 chip: {err}") from err


def read_chip_file(path: PathLike) -> xr.Dataset:
    """Read a chip into memory and check it against the contract.

    Raises:
        FileNotFoundError: if the file does not exist.
        ChipContractError: naming the file when it is unreadable or violates the contract.
    """
    p, ds = _open(path)
    try:
        with ds:
            chip = ds.load()
    except (OSError, ValueError) as err:
        raise ChipContractError(f"{p}: not a readable NetCDF-4 chip: {err}") from err
    return validate_chip(chip, name=str(p))


def read_enmap_chip(path: PathLike) -> xr.Dataset:
    """Read an EnMAP chip into memory and check it against the EnMAP contract.

    Raises:
        FileNotFoundError: if the file does not exist.
        ChipContractError: naming the file when it is unreadable, not an EnMAP chip, or violates
            the contract.
    """
    chip = read_chip_file(path)
    if chip_sensor(chip) != ENMAP_SENSOR:
        raise ChipContractError(f"{path}: not an EnMAP chip (sensor {chip.attrs.get('sensor')!r})")
    return chip


# --------------------------------------------------------------------------- pixel reader


@dataclass(frozen=True)
class ChipHeader:
    """Metadata of one chip.

    Attributes:
        path: The chip file.
        granule: Source granule file name.
        processing_version: L2 processing version (e.g. ``"3.0"``).
        time_start: ``time_coverage_start`` (UTC).
        time_utc: The chip time: midpoint of ``time_coverage_start`` and ``time_coverage_end``.
        wavelength: Band centres (nm), shape (n_bands,).
        attrs: All global attributes.

    """

    path: Path
    granule: str
    processing_version: str
    time_start: pd.Timestamp
    time_utc: pd.Timestamp
    wavelength: np.ndarray
    attrs: dict[str, Any] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class ChipPixels:
    """All pixels of one chip, flattened ``y``-major.

    Attributes:
        header: The chip's metadata.
        shape: ``(ny, nx)`` of the chip.
        lat: Pixel latitudes (deg), shape ``(n_pixels,)``; defined for flagged pixels too.
        lon: Pixel longitudes (deg), shape ``(n_pixels,)``.
        rrs: Rrs (sr-1) float32, shape ``(n_pixels, n_bands)``, NaN where flagged or invalid.
        valid: Pixels whose Rrs is finite in every band, shape ``(n_pixels,)``.

    """

    header: ChipHeader
    shape: tuple[int, int]
    lat: np.ndarray
    lon: np.ndarray
    rrs: np.ndarray
    valid: np.ndarray


def _utc_attr(ds: xr.Dataset, path: Path, name: str) -> pd.Timestamp:
    if name not in ds.attrs:
        raise ValueError(f"{path}: chip attribute '{name}' is missing")
    try:
        ts = pd.Timestamp(str(ds.attrs[name]))
    except ValueError as err:
        raise ValueError(
            f"{path}: attribute '{name}'={ds.attrs[name]!r} is not an ISO time"
        ) from err
    return ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")


def _header(ds: xr.Dataset, path: Path) -> ChipHeader:
    for name in ("granule", "processing_version"):
        if name not in ds.attrs:
            raise ValueError(f"{path}: chip attribute '{name}' is missing")
    for name in ("Rrs", "lat", "lon", "wavelength"):
        if name not in ds.variables:
            raise ValueError(f"{path}: chip has no variable/coordinate '{name}'")
    start = _utc_attr(ds, path, "time_coverage_start")
    end = _utc_attr(ds, path, "time_coverage_end")
    if end < start:
        raise ValueError(f"{path}: time_coverage_end {end} is before time_coverage_start {start}")
    return ChipHeader(
        path=path,
        granule=str(ds.attrs["granule"]),
        processing_version=str(ds.attrs["processing_version"]),
        time_start=start,
        time_utc=(start + (end - start) / 2).as_unit("ns"),
        wavelength=np.asarray(ds["wavelength"].values, dtype=float),
        attrs=dict(ds.attrs),
    )


def read_chip_header(path: PathLike) -> ChipHeader:
    """Read a chip's metadata without loading pixels.

    The chip time is the midpoint of ``time_coverage_start`` and ``time_coverage_end`` (UTC).

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: naming the file and the missing or malformed attribute/variable.

    """
    p, ds = _open(path)
    with ds:
        return _header(ds, p)


def load_chip_pixels(path: PathLike) -> ChipPixels:
    """Load a chip's pixels, flattened ``y``-major.

    Raises:
        FileNotFoundError: if the file does not exist.
        ValueError: naming the file when the chip does not follow the chip contract.

    """
    p, ds = _open(path)
    with ds:
        header = _header(ds, p)
        rrs_da = ds["Rrs"]
        if set(rrs_da.dims) != {"y", "x", "wavelength"}:
            raise ValueError(f"{p}: Rrs dims are {rrs_da.dims}, expected (y, x, wavelength)")
        for name in ("lat", "lon"):
            if set(ds[name].dims) != {"y", "x"}:
                raise ValueError(f"{p}: {name} dims are {ds[name].dims}, expected (y, x)")
        rrs3 = rrs_da.transpose("y", "x", "wavelength").values.astype(np.float32, copy=False)
        lat = ds["lat"].transpose("y", "x").values.astype(float).ravel()
        lon = ds["lon"].transpose("y", "x").values.astype(float).ravel()
    rrs = rrs3.reshape(-1, rrs3.shape[-1])
    if lat.size != rrs.shape[0]:
        raise ValueError(f"{p}: lat/lon have {lat.size} pixels but Rrs has {rrs.shape[0]}")
    if not (np.isfinite(lat).all() and np.isfinite(lon).all()):
        raise ValueError(f"{p}: lat/lon must be defined for every pixel (found NaN)")
    valid = np.asarray(np.isfinite(rrs).all(axis=1), dtype=bool)
    shape = (int(rrs3.shape[0]), int(rrs3.shape[1]))
    return ChipPixels(header=header, shape=shape, lat=lat, lon=lon, rrs=rrs, valid=valid)


def read_chip_headers(chip_paths: Sequence[PathLike]) -> list[ChipHeader]:
    """Headers of all chips, sorted by time; checks unique granules and identical wavelengths.

    Raises:
        ValueError: naming the chip whose granule repeats or whose wavelengths differ.

    """
    headers = sorted(
        (read_chip_header(p) for p in chip_paths), key=lambda h: (h.time_utc, h.granule)
    )
    seen: dict[str, Path] = {}
    for h in headers:
        if h.granule in seen:
            raise ValueError(f"granule {h.granule} appears twice: {seen[h.granule]} and {h.path}")
        seen[h.granule] = h.path
        ref = headers[0]
        if h.wavelength.shape != ref.wavelength.shape or not np.allclose(
            h.wavelength, ref.wavelength
        ):
            raise ValueError(f"{h.path}: wavelengths differ from those of {ref.path}")
    return headers
