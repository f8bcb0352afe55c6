"""Replay granules: PACE OCI L2 AOP files rebuilt around the 183 real station spectra.

For each of the 45 real granules of the shipped matchup table
(``data/pace_oci/lake_erie_pace_oci_l2aop_rrs_glerl_matchups_2024_2025.csv``, see
``data/SOURCES.md``) :func:`write_demo_granule` writes one file in the L2 AOP structure and naming
(``PACE_OCI.YYYYMMDDTHHMMSS.L2.OC_AOP.V3_0.nc``: groups, scaled int16 Rrs, l2_flags, 2-D swath
navigation, per-line times, global attributes), so that the real readers consume it. The 45
granules are 44 overpasses: one overpass has a refined and a near-real-time granule, and the demo
manifest lists only the refined one (:func:`spectm.sources.pace.one_product_per_overpass`).

What is real and what is generated:

- real: the Rrs spectrum of the pixel nearest each table row (exact within int16 scaling), the
  172 wavelengths, the granule names and times, the shoreline (land = LAND flag);
- generated (seeded, deterministic per granule): the swath geometry (rotated 10-15 deg, varying
  cross-track pixel size), the spectra of all other pixels (the station spectrum with ~1 %
  noise within 2.5 km of a station, elsewhere inverse-distance blends of that granule's real
  spectra with spatially correlated noise), clouds (CLDICE, never within 3 km of a station) with
  STRAYLIGHT around them, a sun-glint stripe on some granules (HIGLINT, MODGLINT beside it),
  TURBIDW/CHLWARN by simple Rrs thresholds, and the auxiliary fields ``aot_865``, ``angstrom``,
  ``avw`` and ``nflh``. Every file says so in its ``spectm_demo`` global attribute.
"""

from __future__ import annotations

import hashlib
import logging
import os
from datetime import UTC, datetime
from pathlib import Path

import h5netcdf
import numpy as np
import pandas as pd
from numpy.typing import NDArray
from pyproj import Geod
from scipy.ndimage import binary_dilation, gaussian_filter
from scipy.spatial import cKDTree

from spectm import __version__
from spectm._io import atomic_path
from spectm.data_files import data_path
from spectm.geo import WESTERN_BASIN_BBOX, geodesic_km, water_mask
from spectm.io.pace_l2 import (
    L2_AOP_NAME_RE,
    L2_FLAG_MASKS,
    L2_FLAG_NAMES,
    granule_time,
    processing_version_from_name,
)
from spectm.spectral.bands import pace_oci_rrs_wavelengths
from spectm.tables import spectra_matrix

log = logging.getLogger(__name__)

PathLike = str | os.PathLike[str]

#: Rrs packing of OBPG L2 files: value = stored * 2e-6 + 0.05 (sr-1); -32767 is fill.
RRS_SCALE = 2e-6
RRS_OFFSET = 0.05
RRS_FILL = -32767
FLOAT_FILL = -32767.0
RRS_STANDARD_NAME = "_".join(
    ("surface_ratio_of_upwelling_radiance_emerging_from_sea_water",
     "to_downwelling_radiative_flux_in_air")
)  # fmt: skip
#: A real L2 AOP granule: 5 minutes of 1709 lines x 1272 pixels.
FULL_LINES = 1709
FULL_PIXELS = 1272
LINE_SECONDS = 300.0 / FULL_LINES

NEAR_KM = 2.5  # within this of a station: the station spectrum with ~1 % noise
BLEND_KM = 5.0  # from NEAR_KM to BLEND_KM: taper into the inverse-distance blend
CLEAR_KM = 3.0  # no cloud, straylight or glint within this of a station
NOISE_REL = 0.01  # multiplicative white noise (per pixel and band)
TURBID_RRS_670 = 0.010  # demo rule: TURBIDW where Rrs(670 nm) exceeds this (sr-1)
CHLWARN_RATIO = 1.0  # demo rule: CHLWARN where Rrs(709)/Rrs(665) exceeds this (bloom red edge)

_TABLE_COLUMNS = ("granule", "station", "granule_time_utc", "lat", "lon")
_GEOD = Geod(ellps="WGS84")


# --------------------------------------------------------------------------- the table


def _table(table_path: PathLike | None) -> tuple[pd.DataFrame, NDArray[np.float64]]:
    """Read the matchup table; return it and its spectra ``(n_rows, 172)`` (sr-1)."""
    path = Path(table_path) if table_path is not None else data_path("pace_oci", *_TABLE_NAME)
    df = pd.read_csv(path)
    missing = [c for c in _TABLE_COLUMNS if c not in df.columns]
    if missing:
        raise ValueError(f"{path}: missing columns {missing}")
    spectra, wl = spectra_matrix(df)
    expected = pace_oci_rrs_wavelengths()
    if wl.shape != expected.shape or not np.allclose(wl, expected):
        raise ValueError(f"{path}: Rrs columns are not the 172 PACE OCI L2 AOP wavelengths")
    parts = df["granule"].astype(str).str.extract(L2_AOP_NAME_RE)
    if parts[0].isna().any():
        i = int(np.flatnonzero(parts[0].isna())[0])
        raise ValueError(
            f"{path}: row {i}, column granule: not an L2 AOP file name: {df['granule'][i]!r}"
        )
    name_time = pd.to_datetime(parts[0], format="%Y%m%dT%H%M%S", utc=True)
    col_time = pd.to_datetime(df["granule_time_utc"], utc=True)
    if (name_time != col_time).any():
        i = int(np.flatnonzero(name_time != col_time)[0])
        raise ValueError(
            f"{path}: row {i}: granule_time_utc {df['granule_time_utc'][i]} differs from the "
            f"time in the granule name {df['granule'][i]}"
        )
    bad = ~np.isfinite(spectra).all(axis=1) | ~np.isfinite(df[["lat", "lon"]].to_numpy()).all(
        axis=1
    )
    if bad.any():
        raise ValueError(f"{path}: rows {np.flatnonzero(bad).tolist()} have missing Rrs or lat/lon")
    return df, spectra


_TABLE_NAME = ("lake_erie_pace_oci_l2aop_rrs_glerl_matchups_2024_2025.csv",)


def demo_granules(table_path: PathLike | None = None) -> pd.DataFrame:
    """The real granules of the matchup table, one row each, in time order.

    Args:
        table_path: Matchup table (default: the shipped one).

    Returns:
        Columns ``granule`` (file name), ``time_start`` / ``time_end`` (UTC; a 5-minute granule
        starting at the time in the name), ``processing_version`` (``"3.0"``), ``nrt`` (bool),
        ``n_spectra`` and ``stations`` (comma-separated).
    """
    df, _ = _table(table_path)
    rows = []
    for name, g in df.groupby("granule", sort=False):
        start = granule_time(str(name))
        rows.append(
            {
                "granule": str(name),
                "time_start": start,
                "time_end": start + pd.Timedelta(seconds=(FULL_LINES - 1) * LINE_SECONDS),
                "processing_version": processing_version_from_name(str(name)),
                "nrt": str(name).endswith(".NRT.nc"),
                "n_spectra": len(g),
                "stations": ",".join(g["station"].astype(str)),
            }
        )
    return pd.DataFrame(rows).sort_values(["time_start", "granule"], ignore_index=True)


# --------------------------------------------------------------------------- geometry


def _rng(granule: str, seed: int) -> np.random.Generator:
    """Generator seeded by ``seed`` and the granule name (stable across runs and machines)."""
    digest = int.from_bytes(hashlib.sha256(granule.encode()).digest()[:8], "little")
    return np.random.default_rng([int(seed), digest])


def _swath(
    shape: tuple[int, int], pixel_km: float, rng: np.random.Generator, points: NDArray
) -> tuple[NDArray, NDArray, float]:
    """Swath navigation over the AOI: a rotated line/pixel frame with growing cross-track pixels.

    Args:
        shape: ``(lines, pixels)``.
        pixel_km: Nominal pixel size (km).
        rng: Random generator (rotation, offset, pixel growth).
        points: ``(n, 2)`` (lat, lon) that must lie inside the swath (AOI edges, stations).

    Returns:
        ``lat``, ``lon`` ``(lines, pixels)`` in degrees and the heading (deg from north).

    Raises:
        ValueError: if the swath does not cover every point (shape or pixel_km too small).
    """
    n_lines, n_pix = shape
    lon_min, lat_min, lon_max, lat_max = WESTERN_BASIN_BBOX
    lat0, lon0 = (lat_min + lat_max) / 2, (lon_min + lon_max) / 2
    heading = -rng.uniform(10.0, 15.0)  # ascending pass, heading north-north-west
    growth = rng.uniform(0.0, 0.15)  # cross-track pixel size grows towards one swath edge
    off_e, off_n = rng.uniform(-5.0, 5.0, size=2)
    h = np.radians(heading)
    along = np.array([np.sin(h), np.cos(h)])  # (east, north) unit vector of increasing line
    across = np.array([np.cos(h), -np.sin(h)])  # increasing pixel, 90 deg clockwise of along
    a = (np.arange(n_lines) - (n_lines - 1) / 2) * pixel_km
    step = pixel_km * (1.0 + growth * np.arange(n_pix) / max(n_pix - 1, 1))
    b = np.concatenate([[0.0], np.cumsum(step[:-1])])
    b -= b.mean()
    east = off_e + a[:, None] * along[0] + b[None, :] * across[0]
    north = off_n + a[:, None] * along[1] + b[None, :] * across[1]
    az = np.degrees(np.arctan2(east, north))
    lon, lat, _ = _GEOD.fwd(
        np.full(east.size, lon0),
        np.full(east.size, lat0),
        az.ravel(),
        np.hypot(east, north).ravel() * 1e3,
    )
    # coverage: every point must fall inside the frame with a one-pixel margin
    paz, _, pdist = _GEOD.inv(
        np.full(len(points), lon0), np.full(len(points), lat0), points[:, 1], points[:, 0]
    )
    pe = np.asarray(pdist) / 1e3 * np.sin(np.radians(paz)) - off_e
    pn = np.asarray(pdist) / 1e3 * np.cos(np.radians(paz)) - off_n
    pa, pb = pe * along[0] + pn * along[1], pe * across[0] + pn * across[1]
    ok = (np.abs(pa) < a.max() - pixel_km) & (pb > b.min() + pixel_km) & (pb < b.max() - pixel_km)
    if not ok.all():
        raise ValueError(
            f"demo swath of shape {shape} at {pixel_km} km does not cover the AOI "
            f"{WESTERN_BASIN_BBOX} and all stations; use more lines/pixels or larger pixels"
        )
    return lat.reshape(shape), lon.reshape(shape), heading


def _aoi_outline(n: int = 25) -> NDArray:
    """(lat, lon) points along the AOI boundary."""
    lon_min, lat_min, lon_max, lat_max = WESTERN_BASIN_BBOX
    t = np.linspace(0.0, 1.0, n)
    lons = np.concatenate([lon_min + t * (lon_max - lon_min), np.full(n, lon_max),
                           lon_max - t * (lon_max - lon_min), np.full(n, lon_min)])  # fmt: skip
    lats = np.concatenate([np.full(n, lat_min), lat_min + t * (lat_max - lat_min),
                           np.full(n, lat_max), lat_max - t * (lat_max - lat_min)])  # fmt: skip
    return np.column_stack([lats, lons])


def _place_rows(
    lat: NDArray, lon: NDArray, rows_lat: NDArray, rows_lon: NDArray, spectra: NDArray
) -> NDArray[np.int64]:
    """Flat pixel index of each table row: its nearest pixel, or the nearest free one.

    A pixel already holding a different spectrum is not free (two rows with the same spectrum
    may share one). Candidates come from a tree; the choice uses geodesic distance.
    """
    flat_lat, flat_lon = lat.ravel(), lon.ravel()
    scale = np.cos(np.radians(np.mean(flat_lat)))
    tree = cKDTree(np.column_stack([flat_lat, flat_lon * scale]))
    k = min(9, flat_lat.size)
    _, cand = tree.query(np.column_stack([rows_lat, rows_lon * scale]), k=k)
    cand = np.atleast_2d(cand)
    owner: dict[int, int] = {}
    out = np.empty(len(rows_lat), dtype=np.int64)
    for r in range(len(rows_lat)):
        d = geodesic_km(flat_lat[cand[r]], flat_lon[cand[r]], rows_lat[r], rows_lon[r])
        for pix in cand[r][np.argsort(d, kind="stable")]:
            prev = owner.get(int(pix))
            if prev is None or np.array_equal(spectra[prev], spectra[r]):
                owner[int(pix)] = r
                out[r] = pix
                break
        else:
            raise ValueError(f"no free pixel near table row {r}; pixels too large for the stations")
    return out


# --------------------------------------------------------------------------- content


def _plane_km(lat1: NDArray, lon1: NDArray, lat2: NDArray, lon2: NDArray) -> NDArray:
    """Distance (km) on a local equirectangular plane; within 0.1 % of geodesic over the AOI.

    Used only to shape generated content; station placement uses geodesic distances.
    """
    mean_lat = np.radians(0.5 * (np.mean(lat1) + np.mean(lat2)))
    dx = (np.asarray(lon1) - np.asarray(lon2)) * 111.32 * np.cos(mean_lat)
    dy = (np.asarray(lat1) - np.asarray(lat2)) * 110.95
    return np.hypot(dx, dy)


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], sigma_px: float) -> NDArray:
    """Spatially correlated Gaussian field with zero mean and unit standard deviation."""
    f = gaussian_filter(rng.standard_normal(shape), sigma=max(sigma_px, 0.5), mode="reflect")
    return (f - f.mean()) / (f.std() + 1e-12)


def _band(wl: NDArray, nm: float) -> int:
    """Index of the band nearest ``nm`` (within 3 nm)."""
    i = int(np.argmin(np.abs(wl - nm)))
    if abs(wl[i] - nm) > 3.0:
        raise ValueError(f"no band within 3 nm of {nm} nm")
    return i


def _bit(name: str) -> int:
    return 1 << L2_FLAG_NAMES.index(name)


def _scene(
    lat: NDArray,
    lon: NDArray,
    rows_lat: NDArray,
    rows_lon: NDArray,
    spectra: NDArray,
    wl: NDArray,
    *,
    pixel_km: float,
    cloud_fraction: float,
    rng: np.random.Generator,
) -> tuple[NDArray, NDArray, NDArray[np.int64], dict[str, NDArray]]:
    """Generate the content of one granule.

    Returns:
        Rrs ``(lines, pixels, bands)`` (sr-1, NaN = fill), l2_flags ``(lines, pixels)`` (bits in
        int64), the flat station pixel index of each table row, and auxiliary 2-D fields.
    """
    shape = lat.shape
    n_pix = lat.size
    station_pix = _place_rows(lat, lon, rows_lat, rows_lon, spectra)
    dist = _plane_km(lat.reshape(-1, 1), lon.reshape(-1, 1), rows_lat[None, :], rows_lon[None, :])
    d_near = dist.min(axis=1)
    nearest = dist.argmin(axis=1)

    # water from the shoreline; the station pixels are water whatever the mask says
    water = water_mask(lat, lon).ravel()
    water[station_pix] = True

    # spectra: station spectrum near stations, tapering into an inverse-distance blend
    w = 1.0 / np.maximum(dist, 0.5) ** 2
    spectra32 = spectra.astype(np.float32)
    blend = (w / w.sum(axis=1, keepdims=True)).astype(np.float32) @ spectra32
    tilt = np.clip((wl - 550.0) / 170.0, -1.2, 1.0).astype(np.float32)
    g_amp = _smooth_field(rng, shape, 8.0 / pixel_km).ravel().astype(np.float32)
    g_tilt = _smooth_field(rng, shape, 12.0 / pixel_km).ravel().astype(np.float32)
    blend *= (1.0 + 0.08 * g_amp)[:, None] * (1.0 + 0.10 * g_tilt[:, None] * tilt[None, :])
    alpha = np.clip((BLEND_KM - d_near) / (BLEND_KM - NEAR_KM), 0.0, 1.0).astype(np.float32)[
        :, None
    ]
    rrs = alpha * spectra32[nearest] + (1.0 - alpha) * blend
    rrs *= 1.0 + np.float32(NOISE_REL) * rng.standard_normal(rrs.shape, dtype=np.float32)

    flags = np.zeros(n_pix, dtype=np.int64)
    flags[~water] |= _bit("LAND")

    # clouds: a smooth field thresholded to cloud_fraction, kept away from the stations
    clear_km = max(CLEAR_KM, 2.0 * pixel_km)
    protect = d_near < clear_km
    cloud = np.zeros(n_pix, dtype=bool)
    if cloud_fraction > 0 and (~protect).any():
        # clouds drift away from the stations smoothly (no round holes), then a hard margin
        field = _smooth_field(rng, shape, 5.0 / pixel_km).ravel() - 3.0 * np.exp(
            -((d_near / 8.0) ** 2)
        )
        q = 1.0 - min(1.0, cloud_fraction * n_pix / (~protect).sum())
        cloud = (field > np.quantile(field[~protect], q)) & ~protect
    stray = binary_dilation(cloud.reshape(shape), structure=np.ones((3, 3), bool)).ravel() & ~cloud
    stray &= water
    flags[cloud] |= _bit("CLDICE")
    flags[stray] |= _bit("STRAYLIGHT")
    rrs[stray] += 0.0008  # adjacency brightening next to clouds

    # sun glint: a stripe of columns on some granules, away from the stations
    if rng.random() < 0.3:
        width = max(2, round(8.0 / pixel_km))
        margin = max(1, round(3.0 / pixel_km))
        col_near = (d_near.reshape(shape) < clear_km).any(axis=0)
        starts = [
            s
            for s in range(margin, shape[1] - width - margin)
            if not col_near[s - margin : s + width + margin].any()
        ]
        if starts:
            s = int(rng.choice(starts))
            cols = np.zeros(shape, dtype=bool)
            cols[:, s : s + width] = True
            near = np.zeros(shape, dtype=bool)
            near[:, s - margin : s + width + margin] = True
            hi = cols.ravel() & water & ~cloud
            mod = near.ravel() & ~cols.ravel() & water & ~cloud
            flags[hi] |= _bit("HIGLINT")
            flags[mod] |= _bit("MODGLINT")
            rrs[hi] += 0.002  # residual glint after correction
            rrs[mod] += 0.0005

    # the station pixels carry the real spectra exactly (float64 for exact int16 packing)
    rrs = rrs.astype(np.float64)
    rrs[station_pix] = spectra

    invalid = ~water | cloud
    rrs[invalid] = np.nan
    r670, r665, r709 = (rrs[:, _band(wl, nm)] for nm in (670.0, 665.0, 709.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        flags[r670 > TURBID_RRS_670] |= _bit("TURBIDW")
        flags[(r665 > 0) & (r709 / r665 > CHLWARN_RATIO)] |= _bit("CHLWARN")

    # auxiliary fields: smooth aerosol fields; avw and a line height computed from the Rrs
    aot = np.clip(0.08 + 0.03 * _smooth_field(rng, shape, 15.0 / pixel_km).ravel(), 0.005, None)
    aot = aot + 0.04 * stray
    angstrom = 1.25 + 0.25 * _smooth_field(rng, shape, 15.0 / pixel_km).ravel()
    vis = (wl >= 400.0) & (wl <= 700.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        avw = rrs[:, vis].sum(axis=1) / (rrs[:, vis] / wl[vis]).sum(axis=1)
    avw[~((avw >= 400.0) & (avw <= 700.0))] = np.nan
    i665, i678, i719 = _band(wl, 665.0), _band(wl, 678.0), _band(wl, 719.0)
    base = rrs[:, i665] + (rrs[:, i719] - rrs[:, i665]) * (wl[i678] - wl[i665]) / (
        wl[i719] - wl[i665]
    )
    nflh = 148.0 * (rrs[:, i678] - base)  # F0(678 nm) ~ 148 mW cm-2 um-1
    for arr in (aot, angstrom):
        arr[invalid] = np.nan
    aux = {
        "aot_865": aot.reshape(shape),
        "angstrom": angstrom.reshape(shape),
        "avw": avw.reshape(shape),
        "nflh": nflh.reshape(shape),
    }
    return rrs.reshape(*shape, -1), flags.reshape(shape), station_pix, aux


# --------------------------------------------------------------------------- writing


def _pack_rrs(rrs: NDArray) -> NDArray[np.int16]:
    """Rrs (sr-1, NaN = fill) -> int16 with scale 2e-6 and offset 0.05 (clipped to the range)."""
    q = np.round((rrs - RRS_OFFSET) / RRS_SCALE)
    q = np.clip(q, RRS_FILL + 1, np.iinfo(np.int16).max)
    return np.where(np.isfinite(rrs), q, RRS_FILL).astype(np.int16)


def _iso(ts: pd.Timestamp) -> str:
    return ts.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _write_file(
    path: Path,
    granule: str,
    *,
    lat: NDArray,
    lon: NDArray,
    rrs: NDArray,
    flags: NDArray,
    aux: dict[str, NDArray],
    wl: NDArray,
    line_times: pd.DatetimeIndex,
    note: str,
) -> None:
    n_lines, n_pix, n_bands = rrs.shape
    start = granule_time(granule)
    day = start.normalize()
    with h5netcdf.File(path, "w") as f:
        f.dimensions = {
            "number_of_lines": n_lines,
            "pixels_per_line": n_pix,
            "wavelength_3d": n_bands,
        }
        f.attrs.update(
            {
                "title": "OCI Level-2 Data AOP",
                "product_name": granule,
                "processing_version": processing_version_from_name(granule),
                "instrument": "OCI",
                "platform": "PACE",
                "processing_level": "L2",
                "cdm_data_type": "swath",
                "Conventions": "CF-1.8, ACDD-1.3",
                "time_coverage_start": _iso(start),
                "time_coverage_end": _iso(
                    start + pd.Timedelta(seconds=(FULL_LINES - 1) * LINE_SECONDS)
                ),
                "date_created": _iso(pd.Timestamp(datetime.now(UTC))),
                "startDirection": "Ascending",
                "endDirection": "Ascending",
                "day_night_flag": "Day",
                "geospatial_lat_min": np.float32(lat.min()),
                "geospatial_lat_max": np.float32(lat.max()),
                "geospatial_lon_min": np.float32(lon.min()),
                "geospatial_lon_max": np.float32(lon.max()),
                "spectm_demo": note,
            }
        )
        sbp = f.create_group("sensor_band_parameters")
        v = sbp.create_variable("wavelength_3d", ("wavelength_3d",), dtype="f8")
        v[:] = wl
        v.attrs.update({"long_name": "Wavelengths", "units": "nm"})

        geo = f.create_group("geophysical_data")
        chunks = (min(n_lines, 32), min(n_pix, 32), n_bands)
        v = geo.create_variable(
            "Rrs",
            ("number_of_lines", "pixels_per_line", "wavelength_3d"),
            dtype="i2",
            chunks=chunks,
            compression="gzip",
            compression_opts=4,
            shuffle=True,
            fillvalue=np.int16(RRS_FILL),
        )
        v.attrs.update(
            {
                "long_name": "Remote sensing reflectance",
                "units": "sr^-1",
                "standard_name": RRS_STANDARD_NAME,
                "scale_factor": np.float32(RRS_SCALE),
                "add_offset": np.float32(RRS_OFFSET),
            }
        )
        v[...] = _pack_rrs(rrs)
        v = geo.create_variable(
            "l2_flags", ("number_of_lines", "pixels_per_line"), dtype="i4", compression="gzip"
        )
        v.attrs.update(
            {
                "long_name": "Level-2 Processing Flags",
                "flag_masks": L2_FLAG_MASKS,
                "flag_meanings": " ".join(L2_FLAG_NAMES),
            }
        )
        v[...] = (flags & 0xFFFFFFFF).astype(np.uint32).view(np.int32)
        aux_attrs = {
            "aot_865": ("Aerosol optical thickness at 865 nm", "1"),
            "angstrom": ("Aerosol Angstrom exponent, 443 to 865 nm", "1"),
            "avw": ("Apparent Visible Wavelength", "nm"),
            "nflh": (
                "Normalized Fluorescence Line Height (demo: 665/719 nm baseline)",
                "mW cm^-2 um^-1 sr^-1",
            ),
        }
        for name, (long_name, units) in aux_attrs.items():
            v = geo.create_variable(
                name, ("number_of_lines", "pixels_per_line"), dtype="f4", compression="gzip",
                fillvalue=np.float32(FLOAT_FILL),
            )  # fmt: skip
            v.attrs.update({"long_name": long_name, "units": units})
            v[...] = np.where(np.isfinite(aux[name]), aux[name], FLOAT_FILL).astype(np.float32)

        nav = f.create_group("navigation_data")
        corners = [(0, 0), (0, -1), (-1, -1), (-1, 0)]
        nav.attrs.update(
            {
                "gringpointlongitude": np.array([lon[c] for c in corners], dtype=np.float32),
                "gringpointlatitude": np.array([lat[c] for c in corners], dtype=np.float32),
                "gringpointsequence": np.arange(1, 5, dtype=np.int32),
            }
        )
        for name, arr, units, lo, hi in (
            ("longitude", lon, "degrees_east", -180.0, 180.0),
            ("latitude", lat, "degrees_north", -90.0, 90.0),
        ):
            v = nav.create_variable(
                name, ("number_of_lines", "pixels_per_line"), dtype="f4", compression="gzip",
                fillvalue=np.float32(-999.0),
            )  # fmt: skip
            v.attrs.update(
                {"long_name": name.capitalize(), "standard_name": name, "units": units,
                 "valid_min": np.float32(lo), "valid_max": np.float32(hi)}
            )  # fmt: skip
            v[...] = arr.astype(np.float32)

        sla = f.create_group("scan_line_attributes")
        v = sla.create_variable("time", ("number_of_lines",), dtype="f8")
        v.attrs.update(
            {
                "long_name": "Scan start time (UTC)",
                "units": f"seconds since {day:%Y-%m-%d} 00:00:00",
            }
        )
        v[:] = (line_times - day).total_seconds().to_numpy()


def write_demo_granule(
    granule: str,
    out_path: PathLike,
    *,
    shape: tuple[int, int],
    pixel_km: float,
    seed: int,
    cloud_fraction: float,
    table_path: PathLike | None = None,
) -> Path:
    """Write one replay granule in the PACE OCI L2 AOP format (atomically).

    Args:
        granule: A granule file name of the matchup table (see :func:`demo_granules`).
        out_path: Output file, named exactly ``granule``, or a directory to write it into.
        shape: ``(lines, pixels)`` of the swath cut-out (a real granule is 1709 x 1272).
        pixel_km: Nominal pixel size (km); 1.2 km is OCI at nadir.
        seed: Base seed; the granule name is mixed in, so every granule differs.
        cloud_fraction: Fraction of the swath flagged CLDICE (0 <= f < 0.9).
        table_path: Matchup table (default: the shipped one).

    Returns:
        The written file.

    Raises:
        ValueError: for a granule not in the table, a wrong output name, bad shape/pixel size/
            cloud fraction, or a swath that cannot cover the AOI and stations.
    """
    out = Path(out_path)
    if out.is_dir() or out.suffix != ".nc":
        out = out / granule
    if out.name != granule:
        raise ValueError(f"output file {out} must be named like its granule {granule!r}")
    n_lines, n_pix = (int(v) for v in shape)
    if not (8 <= n_lines <= FULL_LINES and 8 <= n_pix <= FULL_PIXELS):
        raise ValueError(f"shape {shape} must be within (8..{FULL_LINES}, 8..{FULL_PIXELS})")
    if not (0.3 <= pixel_km <= 10.0):
        raise ValueError(f"pixel_km={pixel_km} must be within 0.3..10 km")
    if not (0.0 <= cloud_fraction < 0.9):
        raise ValueError(f"cloud_fraction={cloud_fraction} must be within [0, 0.9)")
    df, spectra_all = _table(table_path)
    sel = (df["granule"] == granule).to_numpy()
    if not sel.any():
        raise ValueError(f"granule {granule!r} is not in the matchup table")
    rows, spectra = df[sel], spectra_all[sel]
    rows_lat, rows_lon = rows["lat"].to_numpy(float), rows["lon"].to_numpy(float)
    wl = pace_oci_rrs_wavelengths()

    rng = _rng(granule, seed)
    points = np.vstack([_aoi_outline(), np.column_stack([rows_lat, rows_lon])])
    lat, lon, heading = _swath((n_lines, n_pix), pixel_km, rng, points)
    rrs, flags, _, aux = _scene(
        lat, lon, rows_lat, rows_lon, spectra, wl,
        pixel_km=pixel_km, cloud_fraction=cloud_fraction, rng=rng,
    )  # fmt: skip
    first_line = int(rng.integers(0, FULL_LINES - n_lines + 1))
    start = granule_time(granule)
    line_times = start + pd.to_timedelta((first_line + np.arange(n_lines)) * LINE_SECONDS, unit="s")
    note = (
        "generated replay granule: NOT a NASA file. The Rrs of the pixel nearest each of the "
        f"{len(rows)} GLERL station rows of this granule in the spectm matchup table is the real "
        "PACE OCI L2 AOP V3.0 spectrum; every other pixel, the flags, navigation, scan times and "
        f"auxiliary fields are generated (spectm {__version__}, seed={seed}, shape={n_lines}x"
        f"{n_pix}, pixel_km={pixel_km}, heading={heading:.2f} deg, cloud_fraction={cloud_fraction})"
    )
    with atomic_path(out) as tmp:
        _write_file(
            tmp, granule, lat=lat, lon=lon, rrs=rrs, flags=flags, aux=aux, wl=wl,
            line_times=pd.DatetimeIndex(line_times), note=note,
        )  # fmt: skip
    log.info("wrote replay granule %s (%d x %d, %d spectra)", out, n_lines, n_pix, len(rows))
    return out
