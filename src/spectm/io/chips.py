"""The chip contract: one AOI subset of one granule, as NetCDF-4 (h5netcdf engine).

A chip holds

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
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from spectm._io import write_netcdf

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

PathLike = str | os.PathLike[str]


class ChipContractError(ValueError):
    """A dataset violates the chip contract; the message lists every violation."""


def _problems(ds: xr.Dataset) -> list[str]:
    out: list[str] = []
    if "Rrs" not in ds.data_vars:
        out.append("variable 'Rrs' is missing")
    else:
        rrs = ds["Rrs"]
        if rrs.dims != ("y", "x", "wavelength"):
            out.append(f"Rrs dims are {rrs.dims}, expected ('y', 'x', 'wavelength')")
        if rrs.dtype != np.float32:
            out.append(f"Rrs dtype is {rrs.dtype}, expected float32")
        if rrs.attrs.get("units", ds.attrs.get("units")) != "sr-1":
            out.append("Rrs units must be 'sr-1'")
    if "wavelength" not in ds.coords:
        out.append("coordinate 'wavelength' is missing")
    else:
        wl = ds["wavelength"]
        if wl.dims != ("wavelength",) or wl.dtype != np.float64:
            out.append(f"wavelength must be 1-D float64 (nm), got dims {wl.dims} dtype {wl.dtype}")
        elif wl.size and not (np.all(np.isfinite(wl.values)) and np.all(np.diff(wl.values) > 0)):
            out.append("wavelength values must be finite and strictly increasing (nm)")
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
    for name in ("time_coverage_start", "time_coverage_end"):
        if name in ds.attrs:
            try:
                pd.Timestamp(str(ds.attrs[name]))
            except ValueError:
                out.append(f"attribute {name}={ds.attrs[name]!r} is not an ISO time")
    if "bbox" in ds.attrs and np.asarray(ds.attrs["bbox"]).size != 4:
        out.append(f"attribute bbox must hold 4 numbers, got {ds.attrs['bbox']!r}")
    return out


def validate_chip(ds: xr.Dataset, *, name: str = "chip") -> xr.Dataset:
    """Check a dataset against the chip contract.

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
    """Validate a chip and write it atomically as NetCDF-4 (zlib-compressed Rrs).

    Args:
        ds: The chip.
        path: Output file; nothing is written (and an existing file is kept) on failure.

    Returns:
        The final path.

    Raises:
        ChipContractError: if ``ds`` violates the contract.
    """
    validate_chip(ds, name=str(path))
    encoding: dict[str, dict[str, Any]] = {
        "Rrs": {"zlib": True, "complevel": 4, "shuffle": True, "dtype": "float32"},
        "l2_flags": {"zlib": True, "complevel": 4},
    }
    return write_netcdf(ds, path, encoding=encoding)


def read_chip_file(path: PathLike) -> xr.Dataset:
    """Read a chip into memory and check it against the contract.

    Raises:
        FileNotFoundError: if the file does not exist.
        ChipContractError: naming the file when it is unreadable or violates the contract.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"chip not found: {p}")
    try:
        with xr.open_dataset(p, engine="h5netcdf") as ds:
            chip = ds.load()
    except (OSError, ValueError) as err:
        raise ChipContractError(f"{p}: not a readable NetCDF-4 chip: {err}") from err
    return validate_chip(chip, name=str(p))
