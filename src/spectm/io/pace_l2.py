"""PACE OCI Level-2 AOP reader: l2_flags, lazily opened granules and AOI chips.

A granule (``PACE_OCI.YYYYMMDDTHHMMSS.L2.OC_AOP.V3_0.nc``) is grouped NetCDF-4:
``geophysical_data/Rrs`` ``(number_of_lines, pixels_per_line, wavelength_3d)`` stored as scaled
int16 (sr-1), ``geophysical_data/l2_flags`` (int32 bits), ``navigation_data/latitude|longitude``
(2-D swath geometry, not a grid) and ``sensor_band_parameters/wavelength_3d`` (nm).
Version 3.2 files name the spectral dimension of ``geophysical_data`` ``wavelength``; both are read.

:func:`read_chip` locates the AOI rows/columns from the navigation arrays and reads only that
window of Rrs, so a 1 GB granule costs the chunks of the window, not the file.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr
from numpy.typing import ArrayLike, NDArray

from spectm._io import write_json
from spectm.geo import in_bbox, validate_bbox
from spectm.inputs import check_rrs_magnitude, check_wavelengths
from spectm.io.chips import write_chip

log = logging.getLogger(__name__)

#: The 32 ``l2_flags`` names in bit order (bit 0 = 1, bit 1 = 2, ...), as in OBPG L2 files.
L2_FLAG_NAMES: tuple[str, ...] = (
    "ATMFAIL", "LAND", "PRODWARN", "HIGLINT", "HILT", "HISATZEN", "COASTZ", "SPARE",
    "STRAYLIGHT", "CLDICE", "COCCOLITH", "TURBIDW", "HISOLZEN", "SPARE", "LOWLW", "CHLFAIL",
    "NAVWARN", "ABSAER", "SPARE", "MAXAERITER", "MODGLINT", "CHLWARN", "ATMWARN", "SPARE",
    "SEAICE", "NAVFAIL", "FILTER", "SPARE", "BOWTIEDEL", "HIPOL", "PRODFAIL", "SPARE",
)  # fmt: skip

#: ``flag_masks`` of the 32 bits as stored in files (int32; bit 31 is negative).
L2_FLAG_MASKS: NDArray[np.int32] = (
    (np.left_shift(np.int64(1), np.arange(32)) & 0xFFFFFFFF).astype(np.uint32).view(np.int32)
)

#: Pixels NASA's matchup tool ignores; TURBIDW, CHLFAIL and CHLWARN are kept (turbid Lake Erie).
NASA_MATCHUP_EXCLUDE: tuple[str, ...] = (
    "LAND", "HIGLINT", "HILT", "HISATZEN", "HISOLZEN", "STRAYLIGHT",
    "CLDICE", "ATMFAIL", "LOWLW", "FILTER", "NAVFAIL", "NAVWARN",
)  # fmt: skip

_SPECTRAL_DIMS = ("wavelength_3d", "wavelength")
#: L2 AOP granule name without ``.nc``, e.g. ``PACE_OCI.20240929T185124.L2.OC_AOP.V3_1`` (and
#: ``….V3_1.NRT`` in the near-real-time collection); unanchored, for building other patterns
#: (the Snakemake ``granule`` wildcard). Groups: start time (YYYYMMDDTHHMMSS), version (``3_1``).
L2_AOP_STEM_PATTERN = r"PACE_OCI\.(\d{8}T\d{6})\.L2\.OC_AOP\.V(\d+(?:_\d+)*)(?:\.NRT)?"
#: L2 AOP file names (the stem plus ``.nc``); groups: start time (YYYYMMDDTHHMMSS) and version.
L2_AOP_NAME_RE = re.compile(rf"^{L2_AOP_STEM_PATTERN}\.nc$")
_L2_AOP_NAME_OR_STEM_RE = re.compile(rf"^{L2_AOP_STEM_PATTERN}(?:\.nc)?$")

PathLike = str | os.PathLike[str]


class L2ReadError(ValueError):
    """A granule cannot be read as a PACE OCI L2 AOP file; the message names the file."""

    def __init__(self, path: PathLike, message: str) -> None:
        self.path = Path(path)
        super().__init__(f"{self.path}: {message}")


# --------------------------------------------------------------------------- flags


def flag_bits(
    names: Iterable[str], flag_masks: ArrayLike, flag_meanings: str | Sequence[str]
) -> int:
    """Combine flag names into one bit mask using a file's ``flag_masks``/``flag_meanings``.

    Args:
        names: Flag names, e.g. ``("LAND", "CLDICE")``; empty gives 0.
        flag_masks: The ``flag_masks`` attribute (one integer per flag; int32 negative values
            are read as unsigned 32-bit).
        flag_meanings: The ``flag_meanings`` attribute (space-separated string or a sequence).

    Returns:
        The OR of the selected masks as a non-negative Python int (< 2**32).

    Raises:
        ValueError: on an unknown or ambiguous (repeated, e.g. ``SPARE``) name, or when masks and
            meanings differ in length.
    """
    meanings = flag_meanings.split() if isinstance(flag_meanings, str) else list(flag_meanings)
    masks = np.asarray(flag_masks).astype(np.int64).ravel() & 0xFFFFFFFF
    if len(meanings) != masks.size:
        raise ValueError(
            f"flag_masks has {masks.size} values but flag_meanings {len(meanings)} names"
        )
    bits = 0
    for name in names:
        hits = [i for i, m in enumerate(meanings) if m == name]
        if not hits:
            raise ValueError(f"unknown l2_flags name {name!r}; known: {sorted(set(meanings))}")
        if len(hits) > 1:
            raise ValueError(f"l2_flags name {name!r} is ambiguous (bits {hits})")
        bits |= int(masks[hits[0]])
    return bits


def flagged(flags: ArrayLike, bits: int) -> NDArray[np.bool_]:
    """True where any of ``bits`` is set in ``flags`` (int32 l2_flags, bit 31 included)."""
    return (np.asarray(flags).astype(np.int64) & 0xFFFFFFFF & int(bits)) != 0


# --------------------------------------------------------------------------- reading


def granule_time(name: str | os.PathLike[str]) -> pd.Timestamp:
    """Start time (UTC) encoded in an L2 AOP granule name.

    Args:
        name: File name or path (``PACE_OCI.20240929T185124.L2.OC_AOP.V3_1.nc``) or its stem
            without ``.nc`` (the Snakemake ``granule`` wildcard).

    Returns:
        The start time as a tz-aware UTC timestamp.

    Raises:
        ValueError: if the name does not follow ``PACE_OCI.YYYYMMDDTHHMMSS.L2.OC_AOP.V*[.nc]``.
    """
    m = _L2_AOP_NAME_OR_STEM_RE.match(Path(name).name)
    if m is None:
        raise ValueError(f"not a PACE OCI L2 AOP file name: {str(name)!r}")
    return pd.Timestamp(m.group(1)).tz_localize("UTC")


def processing_version_from_name(name: str) -> str:
    """Processing version encoded in an L2 AOP file name (``V3_0`` -> ``"3.0"``).

    Raises:
        ValueError: if the name does not follow ``PACE_OCI.YYYYMMDDTHHMMSS.L2.OC_AOP.V*.nc``.
    """
    m = L2_AOP_NAME_RE.match(Path(name).name)
    if m is None:
        raise ValueError(f"not a PACE OCI L2 AOP file name: {name!r}")
    return m.group(2).replace("_", ".")


def open_l2_aop(path: PathLike) -> xr.DataTree:
    """Open an L2 AOP granule lazily (nothing but metadata is read).

    Args:
        path: The granule file.

    Returns:
        The file's group tree; close it (``tree.close()``) when done.

    Raises:
        FileNotFoundError: if the file does not exist.
        L2ReadError: if it is not a readable NetCDF-4/HDF5 file (truncated, corrupt, other format).
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"PACE L2 granule not found: {p}")
    try:
        return xr.open_datatree(p, engine="h5netcdf")
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        size = p.stat().st_size
        raise L2ReadError(
            p, f"not a readable NetCDF-4 file ({size} bytes; truncated or corrupt?): {err}"
        ) from err


def _node(tree: xr.DataTree, group: str, path: Path) -> xr.Dataset:
    if group not in tree.children:
        raise L2ReadError(path, f"group '{group}' is missing (groups: {sorted(tree.children)})")
    node = tree[group]
    if not isinstance(node, xr.DataTree):
        raise L2ReadError(path, f"'{group}' is a variable, not a group")
    return node.to_dataset(inherit=False)


def _var(ds: xr.Dataset, group: str, name: str, path: Path) -> xr.DataArray:
    if name not in ds.variables:
        raise L2ReadError(path, f"variable '{group}/{name}' is missing")
    return ds[name]


_RRS_UNITS = frozenset({"sr-1", "sr^-1", "1/sr", "sr**-1"})
"""Spellings of sr-1 accepted in the ``units`` attribute of ``geophysical_data/Rrs``."""


def _check_rrs_encoding(rrs_da: xr.DataArray, path: Path) -> None:
    """Rrs must decode to sr-1: packed integers need ``scale_factor``; units must be sr-1."""
    stored = np.dtype(rrs_da.encoding.get("dtype", rrs_da.dtype))
    packed = "scale_factor" in rrs_da.encoding or "scale_factor" in rrs_da.attrs
    if np.issubdtype(stored, np.integer) and not packed:
        raise L2ReadError(
            path,
            f"geophysical_data/Rrs is stored as {stored} without scale_factor/add_offset, so its "
            "counts are not Rrs in sr-1; expected CF packing attributes (PACE L2 AOP: "
            "scale_factor 2e-06, add_offset 0.05)",
        )
    units = rrs_da.attrs.get("units", rrs_da.encoding.get("units"))
    if units is not None and str(units).replace(" ", "") not in _RRS_UNITS:
        raise L2ReadError(
            path, f"geophysical_data/Rrs has units {str(units)!r}; expected sr^-1 (Rrs, sr-1)"
        )


def _iso_utc(value: Any, path: Path, name: str) -> str:
    try:
        ts = pd.Timestamp(str(value))
    except ValueError as err:
        raise L2ReadError(path, f"global attribute {name}={value!r} is not an ISO time") from err
    ts = ts.tz_localize("UTC") if ts.tzinfo is None else ts.tz_convert("UTC")
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def read_chip(
    path: PathLike,
    *,
    bbox: Sequence[float],
    exclude_flags: Sequence[str] = NASA_MATCHUP_EXCLUDE,
) -> xr.Dataset:
    """Read the AOI window of a granule as a chip, with flagged pixels set to NaN.

    The window is the smallest line/pixel rectangle holding every pixel whose centre lies in
    ``bbox``; pixels of the window outside ``bbox`` are kept (they are real swath pixels).
    Only that window of ``Rrs`` and ``l2_flags`` is read from disk.

    Args:
        path: The L2 AOP granule.
        bbox: ``(lon_min, lat_min, lon_max, lat_max)`` in degrees.
        exclude_flags: ``l2_flags`` names whose pixels become NaN (default: NASA's matchup set).

    Returns:
        The chip (see :mod:`spectm.io.chips`): ``Rrs`` (y, x, wavelength) float32 sr-1 NaN invalid,
        ``l2_flags`` (y, x) int32, coordinates ``wavelength`` (nm), ``lat``/``lon`` (y, x) and
        ``line``/``pixel`` (the window's indices in the granule).

    Raises:
        L2ReadError: naming the file when it is unreadable, lacks a group/variable, has
            inconsistent shapes, does not intersect ``bbox``, has band centres that are not
            strictly increasing nm (e.g. micrometres), an ``Rrs`` stored as integers without
            ``scale_factor``/``add_offset`` or with units other than sr-1, or an unflagged Rrs
            beyond ``|Rrs| <= 1/pi`` sr-1 (naming the line, pixel and band).
    """
    p = Path(path)
    box = validate_bbox(bbox)
    tree = open_l2_aop(p)
    try:
        nav = _node(tree, "navigation_data", p)
        geo = _node(tree, "geophysical_data", p)
        band = _node(tree, "sensor_band_parameters", p)
        lat_da = _var(nav, "navigation_data", "latitude", p)
        lon_da = _var(nav, "navigation_data", "longitude", p)
        rrs_da = _var(geo, "geophysical_data", "Rrs", p)
        flags_da = _var(geo, "geophysical_data", "l2_flags", p)
        wl = np.asarray(_var(band, "sensor_band_parameters", "wavelength_3d", p).values, float)

        if lat_da.ndim != 2 or lat_da.dims != lon_da.dims:
            raise L2ReadError(
                p, f"latitude/longitude must share 2 dims, got {lat_da.dims}, {lon_da.dims}"
            )
        line_dim, pix_dim = lat_da.dims
        spec = [d for d in rrs_da.dims if d in _SPECTRAL_DIMS]
        if rrs_da.dims[:2] != (line_dim, pix_dim) or len(spec) != 1 or rrs_da.ndim != 3:
            raise L2ReadError(
                p, f"Rrs dims {rrs_da.dims} are not ({line_dim}, {pix_dim}, wavelength_3d)"
            )
        if flags_da.dims != (line_dim, pix_dim):
            raise L2ReadError(p, f"l2_flags dims {flags_da.dims} are not ({line_dim}, {pix_dim})")
        if rrs_da.shape[2] != wl.size:
            raise L2ReadError(
                p, f"Rrs has {rrs_da.shape[2]} bands but wavelength_3d {wl.size} values"
            )
        try:
            check_wavelengths(wl, "sensor_band_parameters/wavelength_3d", increasing=True)
        except ValueError as err:
            raise L2ReadError(p, str(err)) from None
        _check_rrs_encoding(rrs_da, p)
        for attr in ("flag_masks", "flag_meanings"):
            if attr not in flags_da.attrs:
                raise L2ReadError(p, f"geophysical_data/l2_flags has no '{attr}' attribute")

        try:
            lat = np.asarray(lat_da.values, dtype=np.float64)
            lon = np.asarray(lon_da.values, dtype=np.float64)
        except (OSError, ValueError) as err:
            raise L2ReadError(p, f"cannot read navigation_data (corrupt data?): {err}") from err
        inside = in_bbox(lat, lon, box)
        if not inside.any():
            raise L2ReadError(p, f"granule does not intersect bbox {list(box)}")
        rows = np.flatnonzero(inside.any(axis=1))
        cols = np.flatnonzero(inside.any(axis=0))
        window = {line_dim: slice(rows[0], rows[-1] + 1), pix_dim: slice(cols[0], cols[-1] + 1)}

        # isel on the lazily opened variable: only the window's chunks are read and decoded
        # (CF scale_factor/add_offset/_FillValue -> float with NaN).
        try:
            rrs = np.asarray(rrs_da.isel(window).values, dtype=np.float32)
            flags = np.asarray(flags_da.isel(window).values).astype(np.int32)
        except (OSError, ValueError) as err:
            raise L2ReadError(p, f"cannot read Rrs/l2_flags (corrupt data?): {err}") from err
        try:
            bits = flag_bits(
                exclude_flags, flags_da.attrs["flag_masks"], flags_da.attrs["flag_meanings"]
            )
        except ValueError as err:
            raise L2ReadError(p, f"l2_flags: {err}") from err
        rrs[flagged(flags, bits)] = np.nan
        try:
            check_rrs_magnitude(
                rrs.reshape(-1, wl.size),
                "geophysical_data/Rrs",
                row=lambda i: (
                    f"line {rows[0] + i // rrs.shape[1]} pixel {cols[0] + i % rrs.shape[1]}"
                ),
                band=lambda j: f"{wl[j]:g} nm",
            )
        except ValueError as err:
            raise L2ReadError(p, f"{err} (unflagged pixel)") from None

        attrs = tree.attrs
        for name in ("time_coverage_start", "time_coverage_end"):
            if name not in attrs:
                raise L2ReadError(p, f"global attribute '{name}' is missing")
        version = str(attrs.get("processing_version", "")) or processing_version_from_name(p.name)
        chip = xr.Dataset(
            data_vars={
                "Rrs": (
                    ("y", "x", "wavelength"),
                    rrs,
                    {"units": "sr-1", "long_name": "Remote sensing reflectance"},
                ),
                "l2_flags": (
                    ("y", "x"),
                    flags,
                    {
                        "long_name": "Level-2 processing flags (original bits)",
                        "flag_masks": np.asarray(flags_da.attrs["flag_masks"]).astype(np.int32),
                        "flag_meanings": str(flags_da.attrs["flag_meanings"]),
                    },
                ),
            },
            coords={
                "wavelength": (
                    "wavelength",
                    wl,
                    {"units": "nm", "long_name": "nominal band centre (wavelength_3d)"},
                ),
                "lat": (
                    ("y", "x"),
                    lat[window[line_dim], window[pix_dim]],
                    {"units": "degrees_north"},
                ),
                "lon": (
                    ("y", "x"),
                    lon[window[line_dim], window[pix_dim]],
                    {"units": "degrees_east"},
                ),
                "line": (
                    "y",
                    np.arange(rows[0], rows[-1] + 1, dtype=np.int32),
                    {"long_name": "granule line index"},
                ),
                "pixel": (
                    "x",
                    np.arange(cols[0], cols[-1] + 1, dtype=np.int32),
                    {"long_name": "granule pixel index"},
                ),
            },
            attrs={
                "units": "sr-1",
                "sensor": "PACE_OCI",
                "granule": p.name,
                "source_file": str(p.resolve()),
                "processing_version": version,
                "time_coverage_start": _iso_utc(
                    attrs["time_coverage_start"], p, "time_coverage_start"
                ),
                "time_coverage_end": _iso_utc(attrs["time_coverage_end"], p, "time_coverage_end"),
                "flags_applied": " ".join(exclude_flags),
                "bbox": np.asarray(box, dtype=np.float64),
            },
        )
        if "spectm_demo" in attrs:
            chip.attrs["spectm_demo"] = str(attrs["spectm_demo"])
    finally:
        tree.close()
    return chip


# --------------------------------------------------------------------------- statistics


def flag_statistics(chip: xr.Dataset) -> dict[str, Any]:
    """Per-flag pixel counts and fractions over the chip pixels inside its ``bbox``.

    Args:
        chip: A chip from :func:`read_chip` (needs ``l2_flags`` with ``flag_masks`` /
            ``flag_meanings``, ``lat``/``lon``, ``Rrs`` and the ``bbox``/``flags_applied`` attrs).

    Returns:
        ``{"granule", "bbox", "flags_applied", "n_pixels_window", "n_pixels_aoi", "n_valid_aoi",
        "valid_fraction_aoi", "flags": {name: {"count", "fraction", "excluded"}}}``; fractions are
        of ``n_pixels_aoi``; a pixel is valid when its Rrs is finite in every band. SPARE bits
        are left out.
    """
    flags = np.asarray(chip["l2_flags"].values)
    masks = np.asarray(chip["l2_flags"].attrs["flag_masks"]).astype(np.int64) & 0xFFFFFFFF
    meanings = str(chip["l2_flags"].attrs["flag_meanings"]).split()
    aoi = in_bbox(chip["lat"].values, chip["lon"].values, chip.attrs["bbox"])
    valid = np.isfinite(chip["Rrs"].transpose("y", "x", "wavelength").values).all(axis=-1)
    applied = set(str(chip.attrs.get("flags_applied", "")).split())
    n_aoi = int(aoi.sum())
    per_flag: dict[str, dict[str, Any]] = {}
    for name, mask in zip(meanings, masks, strict=True):
        if name == "SPARE":
            continue
        count = int((flagged(flags, int(mask)) & aoi).sum())
        per_flag[name] = {
            "count": count,
            "fraction": count / n_aoi if n_aoi else float("nan"),
            "excluded": name in applied,
        }
    n_valid = int((valid & aoi).sum())
    return {
        "granule": str(chip.attrs.get("granule", "")),
        "bbox": [float(v) for v in np.asarray(chip.attrs["bbox"]).ravel()],
        "flags_applied": sorted(applied),
        "n_pixels_window": int(flags.size),
        "n_pixels_aoi": n_aoi,
        "n_valid_aoi": n_valid,
        "valid_fraction_aoi": n_valid / n_aoi if n_aoi else float("nan"),
        "flags": per_flag,
    }


def make_chip(
    granule_path: PathLike,
    chip_path: PathLike,
    *,
    bbox: Sequence[float],
    exclude_flags: Sequence[str],
    stats_path: PathLike | None = None,
) -> Path:
    """Read a granule's AOI chip, write it (atomically) and optionally its flag statistics.

    Args:
        granule_path: The L2 AOP granule.
        chip_path: Output chip (NetCDF-4, chip contract).
        bbox: ``(lon_min, lat_min, lon_max, lat_max)`` in degrees.
        exclude_flags: ``l2_flags`` names set to NaN.
        stats_path: Where to write :func:`flag_statistics` as JSON (``None``: not written).

    Returns:
        ``chip_path``.
    """
    chip = read_chip(granule_path, bbox=bbox, exclude_flags=exclude_flags)
    stats = flag_statistics(chip)
    out = write_chip(chip, chip_path)
    if stats_path is not None:
        write_json(stats, stats_path)
    log.info(
        "%s: chip %s (y, x) = %s, %d/%d AOI pixels valid",
        Path(granule_path).name,
        out,
        chip["Rrs"].shape[:2],
        stats["n_valid_aoi"],
        stats["n_pixels_aoi"],
    )
    return out


def flag_names_in(flags: int, flag_masks: ArrayLike, flag_meanings: str) -> list[str]:
    """Names of the bits set in one ``l2_flags`` value (for messages and tests)."""
    masks = np.asarray(flag_masks).astype(np.int64) & 0xFFFFFFFF
    value = int(flags) & 0xFFFFFFFF
    return [n for n, m in zip(flag_meanings.split(), masks, strict=True) if value & int(m)]
