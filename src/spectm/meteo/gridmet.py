"""AUX meteorological features from gridMET, aggregated over days before each sample.

gridMET (Abatzoglou 2013, University of Idaho Climatology Lab; https://www.climatologylab.org/gridmet.html)
is daily surface meteorology for the contiguous US on a 1/24 degree (about 4 km) latitude/longitude
grid, 1979 to yesterday. Each variable is served as one aggregated dataset over THREDDS/OPeNDAP:

    http://thredds.northwestknowledge.net:8080/thredds/dodsC/agg_met_<var>_1979_CurrentYear_CONUS.nc

(underscores, not hyphens; ``#fillmismatch`` asks the netCDF-C DAP client to accept the packed
variables' ``_FillValue`` type). Dimensions are ``(day, lat, lon)``; ``day`` counts days since
1900-01-01, ``lat`` descends from 49.4 to 25.07 N, ``lon`` ascends from -124.77 to -67.06 E. The
variable names inside the aggregated files (``daily_maximum_temperature``, not the
``air_temperature`` of the yearly files) are in :data:`GRIDMET_VARIABLES`; they follow the
names used by the Climatology Lab's OPeNDAP catalog as read by climateR and other public
clients.

Feature definition (see :func:`aux_features`): for a sample taken on UTC day D and a window of
w days, the feature aggregates gridMET days D-w ... D-1. **Day D itself is excluded**: a gridMET
day's values (daily maximum temperature, 24-h precipitation) include hours after the sample was
taken, so using it would leak the future. Water fluxes (precipitation, reference
evapotranspiration) are summed (mm over the window); state variables are averaged; wind
direction uses the circular mean. A window with any missing day gives NaN.

Over the Great Lakes gridMET cells may be masked (no data over open water), so each sample
takes the nearest grid cell that has data (within ``max_dist_km``), not simply the nearest cell.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import xarray as xr
from scipy.spatial import cKDTree

from spectm._io import write_parquet

log = logging.getLogger(__name__)

GRIDMET_URL_TEMPLATE = (
    "http://thredds.northwestknowledge.net:8080/thredds/dodsC/"
    "agg_met_{var}_1979_CurrentYear_CONUS.nc#fillmismatch"
)
"""OPeNDAP URL of the aggregated daily CONUS dataset of one variable (``{var}``: short name)."""

Aggregation = Literal["sum", "mean", "circmean"]

_KM_PER_DEG = 111.195  # mean great-circle km per degree of latitude


@dataclass(frozen=True)
class GridmetVariable:
    """One gridMET variable.

    Attributes:
        name: Short name used in file names and feature columns (``pr``).
        nc_name: Variable name inside the aggregated OPeNDAP dataset.
        units: Units of the values (after CF unpacking).
        aggregation: How days in a window are combined: ``sum`` (fluxes), ``mean`` (states) or
            ``circmean`` (directions, degrees).
        description: Plain-language meaning.

    """

    name: str
    nc_name: str
    units: str
    aggregation: Aggregation
    description: str


GRIDMET_VARIABLES: dict[str, GridmetVariable] = {
    v.name: v
    for v in (
        GridmetVariable(
            "pr", "precipitation_amount", "mm", "sum", "daily accumulated precipitation"
        ),
        GridmetVariable(
            "tmmx", "daily_maximum_temperature", "K", "mean", "daily maximum 2 m air temperature"
        ),
        GridmetVariable(
            "tmmn", "daily_minimum_temperature", "K", "mean", "daily minimum 2 m air temperature"
        ),
        GridmetVariable(
            "srad",
            "daily_mean_shortwave_radiation_at_surface",
            "W m-2",
            "mean",
            "daily mean downwelling shortwave radiation at the surface",
        ),
        GridmetVariable(
            "vs", "daily_mean_wind_speed", "m s-1", "mean", "daily mean 10 m wind speed"
        ),
        GridmetVariable(
            "th",
            "daily_mean_wind_direction",
            "degrees clockwise from north",
            "circmean",
            "daily mean 10 m wind direction (from)",
        ),
        GridmetVariable(
            "rmax",
            "daily_maximum_relative_humidity",
            "%",
            "mean",
            "daily maximum relative humidity",
        ),
        GridmetVariable(
            "rmin",
            "daily_minimum_relative_humidity",
            "%",
            "mean",
            "daily minimum relative humidity",
        ),
        GridmetVariable(
            "sph",
            "daily_mean_specific_humidity",
            "kg kg-1",
            "mean",
            "daily mean 2 m specific humidity",
        ),
        GridmetVariable(
            "vpd",
            "daily_mean_vapor_pressure_deficit",
            "kPa",
            "mean",
            "daily mean vapour pressure deficit",
        ),
        GridmetVariable(
            "pet",
            "daily_mean_reference_evapotranspiration_grass",
            "mm",
            "sum",
            "daily reference evapotranspiration, grass",
        ),
        GridmetVariable(
            "etr",
            "daily_mean_reference_evapotranspiration_alfalfa",
            "mm",
            "sum",
            "daily reference evapotranspiration, alfalfa",
        ),
        GridmetVariable(
            "erc",
            "daily_mean_energy_release_component-g",
            "1",
            "mean",
            "energy release component (NFDRS fuel model G)",
        ),
        GridmetVariable(
            "bi", "daily_mean_burning_index_g", "1", "mean", "burning index (NFDRS fuel model G)"
        ),
        GridmetVariable(
            "fm100", "dead_fuel_moisture_100hr", "%", "mean", "100-hour dead fuel moisture"
        ),
        GridmetVariable(
            "fm1000", "dead_fuel_moisture_1000hr", "%", "mean", "1000-hour dead fuel moisture"
        ),
    )
}
"""Daily gridMET variables by short name (source: Climatology Lab THREDDS catalog)."""

DEFAULT_VARIABLES: tuple[str, ...] = (
    "pr", "tmmx", "tmmn", "srad", "vs", "th", "rmax", "rmin", "sph", "vpd", "pet", "etr",
)  # fmt: skip
"""The meteorological variables used by default (fire-danger indices left out)."""

DEFAULT_WINDOWS_DAYS: tuple[int, ...] = (1, 3, 7, 14)
"""Window lengths in days, each ending the day before the sample."""


def _variable(var: str) -> GridmetVariable:
    if var not in GRIDMET_VARIABLES:
        raise ValueError(f"unknown gridMET variable {var!r}; known: {sorted(GRIDMET_VARIABLES)}")
    return GRIDMET_VARIABLES[var]


def open_gridmet(var: str, *, url_template: str = GRIDMET_URL_TEMPLATE) -> xr.Dataset:
    """Open one gridMET variable lazily (OPeNDAP or a local file) and check its layout.

    Args:
        var: Short name, a key of :data:`GRIDMET_VARIABLES` (``pr``, ``tmmx``, ...).
        url_template: Location with a ``{var}`` placeholder: the THREDDS OPeNDAP URL by default,
            or a local path to files in the same layout.

    Returns:
        The dataset, not loaded: data variable ``GRIDMET_VARIABLES[var].nc_name`` with dims
        ``(day, lat, lon)``, CF-decoded (values in the table's units, ``day`` as datetime64).

    Raises:
        ValueError: unknown ``var``, or the dataset lacks the expected variable or dimensions.
        OSError: the location cannot be opened (message names it).

    """
    spec = _variable(var)
    url = url_template.format(var=var)
    try:
        ds = xr.open_dataset(url)
    except (OSError, ValueError) as err:
        raise OSError(f"cannot open gridMET {var!r} at {url}: {err}") from err
    _check_layout(ds, spec, url)
    return ds


def _check_layout(ds: xr.Dataset, spec: GridmetVariable, where: str) -> xr.DataArray:
    if spec.nc_name not in ds.data_vars:
        raise ValueError(
            f"gridMET dataset {where} for {spec.name!r} lacks variable {spec.nc_name!r} "
            f"(has: {sorted(map(str, ds.data_vars))})"
        )
    da = ds[spec.nc_name]
    if set(da.dims) != {"day", "lat", "lon"}:
        raise ValueError(
            f"gridMET variable {spec.nc_name!r} in {where} has dims {da.dims}, "
            "expected (day, lat, lon)"
        )
    return da


def _days(da: xr.DataArray) -> pd.DatetimeIndex:
    """Return the ``day`` coordinate as UTC-naive midnight dates."""
    return pd.DatetimeIndex(da["day"].to_numpy()).normalize()


def nearest_valid_cells(
    da: xr.DataArray,
    lat: np.ndarray,
    lon: np.ndarray,
    *,
    mask_day: pd.Timestamp | None = None,
    max_dist_km: float = 25.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grid cells with data nearest to each point.

    Args:
        da: A gridMET variable, dims ``(day, lat, lon)``.
        lat: Point latitudes, degrees north, shape ``(n,)``.
        lon: Point longitudes, degrees east (negative in CONUS), shape ``(n,)``.
        mask_day: Day whose non-missing cells count as valid (default: the last day in ``da``);
            one full grid of that day is read.
        max_dist_km: Points farther than this from any valid cell get index -1.

    Returns:
        ``(lat_index, lon_index, dist_km)``, each shape ``(n,)``; indices are -1 and distance the
        nearest valid cell's when no valid cell lies within ``max_dist_km``. Distances use a
        local equirectangular approximation (exact enough at 4 km cell scale).

    """
    lat = np.asarray(lat, dtype=float)
    lon = np.asarray(lon, dtype=float)
    days = _days(da)
    if mask_day is None:
        k = len(days) - 1
    else:
        k = int(days.get_indexer(pd.DatetimeIndex([mask_day]), method="nearest")[0])
    grid = da.isel(day=k).transpose("lat", "lon").to_numpy()  # (n_lat, n_lon)
    iy, ix = np.nonzero(np.isfinite(grid))
    if iy.size == 0:
        raise ValueError(f"gridMET variable {da.name!r} has no valid cell on {days[k].date()}")
    glat = da["lat"].to_numpy()[iy]
    glon = da["lon"].to_numpy()[ix]
    coslat = np.cos(np.deg2rad(np.mean(lat) if lat.size else 0.0))

    def xy(la: np.ndarray, lo: np.ndarray) -> np.ndarray:
        return np.column_stack([lo * coslat * _KM_PER_DEG, la * _KM_PER_DEG])

    dist, j = cKDTree(xy(glat, glon)).query(xy(lat, lon))
    far = dist > max_dist_km
    return np.where(far, -1, iy[j]), np.where(far, -1, ix[j]), np.asarray(dist, dtype=float)


def _load_cells(
    da: xr.DataArray, iy: np.ndarray, ix: np.ndarray, first: pd.Timestamp, last: pd.Timestamp
) -> np.ndarray:
    """Return daily values of cells (iy, ix) from ``first`` to ``last`` inclusive.

    Returns:
        Array of shape ``(n_days, n_cells)``, float64, with one row per calendar day (days the
        dataset does not cover are NaN).

    """
    full = pd.date_range(first, last, freq="D")
    out = np.full((len(full), iy.size), np.nan)
    days = _days(da)
    sel = np.nonzero((days >= first) & (days <= last))[0]
    if sel.size == 0 or iy.size == 0:
        return out
    block = da.isel(
        day=slice(int(sel[0]), int(sel[-1]) + 1),
        lat=xr.DataArray(iy, dims="cell"),
        lon=xr.DataArray(ix, dims="cell"),
    ).transpose("day", "cell")
    rows = full.get_indexer(days[sel[0] : sel[-1] + 1])
    out[rows] = block.to_numpy().astype(float)
    return out


def gridmet_point_series(
    ds: xr.Dataset,
    lat: Sequence[float] | np.ndarray,
    lon: Sequence[float] | np.ndarray,
    start: str | pd.Timestamp,
    end: str | pd.Timestamp,
    *,
    max_dist_km: float = 25.0,
) -> xr.DataArray:
    """Daily series at the nearest valid gridMET cell of each point.

    Args:
        ds: A dataset from :func:`open_gridmet` (one gridMET variable).
        lat: Point latitudes, degrees north, shape ``(n,)``.
        lon: Point longitudes, degrees east, shape ``(n,)``.
        start: First day (inclusive).
        end: Last day (inclusive).
        max_dist_km: Points with no valid cell this close get all-NaN series.

    Returns:
        DataArray ``(day, point)`` in the variable's units, with per-point coordinates
        ``cell_lat``, ``cell_lon`` (degrees) and ``cell_dist_km``.

    """
    names = [str(n) for n in ds.data_vars if set(ds[n].dims) == {"day", "lat", "lon"}]
    if len(names) != 1:
        raise ValueError(
            f"expected one (day, lat, lon) variable in the gridMET dataset, got {names}"
        )
    da = ds[names[0]]
    first, last = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    iy, ix, dist = nearest_valid_cells(
        da, np.asarray(lat), np.asarray(lon), mask_day=first, max_dist_km=max_dist_km
    )
    ok = iy >= 0
    values = np.full((len(pd.date_range(first, last, freq="D")), iy.size), np.nan)
    values[:, ok] = _load_cells(da, iy[ok], ix[ok], first, last)
    return xr.DataArray(
        values,
        dims=("day", "point"),
        coords={
            "day": pd.date_range(first, last, freq="D"),
            "cell_lat": ("point", np.where(ok, da["lat"].to_numpy()[iy], np.nan)),
            "cell_lon": ("point", np.where(ok, da["lon"].to_numpy()[ix], np.nan)),
            "cell_dist_km": ("point", dist),
        },
        name=da.name,
        attrs={"units": str(da.attrs.get("units", ""))},
    )


def aux_column(var: str, window_days: int) -> str:
    """Feature column name ``aux_<var>_<agg>_<w>d``, e.g. ``aux_pr_sum_7d``."""
    return f"aux_{var}_{_variable(var).aggregation}_{window_days}d"


def _window_aggregate(
    values: np.ndarray, cell: np.ndarray, end: np.ndarray, window: int, how: Aggregation
) -> np.ndarray:
    """Aggregate ``values[end-window:end, cell]`` per sample, NaN if any day is missing.

    Args:
        values: Daily values, shape ``(n_days, n_cells)``.
        cell: Cell column per sample, shape ``(n,)``; -1 means no cell (NaN result).
        end: Exclusive end row per sample (the sample day's row), shape ``(n,)``.
        window: Window length in days.
        how: ``sum``, ``mean`` or ``circmean`` (degrees).

    """
    n_days, n_cells = values.shape
    if n_cells == 0:
        return np.full(cell.shape, np.nan)
    start = end - window
    ok = (cell >= 0) & (start >= 0) & (end <= n_days)
    c, s, e = np.where(ok, cell, 0), np.clip(start, 0, n_days), np.clip(end, 0, n_days)
    missing = np.vstack([np.zeros((1, values.shape[1])), np.cumsum(np.isnan(values), axis=0)])
    ok &= (missing[e, c] - missing[s, c]) == 0

    def window_sum(x: np.ndarray) -> np.ndarray:
        csum = np.vstack([np.zeros((1, x.shape[1])), np.cumsum(np.nan_to_num(x), axis=0)])
        return csum[e, c] - csum[s, c]

    if how == "circmean":
        rad = np.deg2rad(values)
        out = np.rad2deg(np.arctan2(window_sum(np.sin(rad)), window_sum(np.cos(rad)))) % 360.0
    elif how == "sum":
        out = window_sum(values)
    else:
        out = window_sum(values) / window
    return np.where(ok, out, np.nan)


def _check_samples(samples: pd.DataFrame) -> tuple[pd.DatetimeIndex, np.ndarray, np.ndarray]:
    missing = [c for c in ("time_utc", "lat", "lon") if c not in samples.columns]
    if missing:
        raise ValueError(f"samples table lacks column(s) {missing} needed for gridMET features")
    times = pd.to_datetime(samples["time_utc"], utc=True, errors="coerce")
    for col, bad in (
        ("time_utc", times.isna()),
        ("lat", pd.to_numeric(samples["lat"], errors="coerce").isna()),
        ("lon", pd.to_numeric(samples["lon"], errors="coerce").isna()),
    ):
        if bad.any():
            raise ValueError(
                f"samples column {col!r} is missing or invalid in row {samples.index[bad][0]!r}"
            )
    days = pd.DatetimeIndex(times.dt.tz_convert("UTC").dt.tz_localize(None)).normalize()
    lat = samples["lat"].to_numpy(dtype=float)
    lon = samples["lon"].to_numpy(dtype=float)
    return days, lat, lon


def aux_features(
    samples: pd.DataFrame,
    *,
    variables: Sequence[str] = DEFAULT_VARIABLES,
    windows_days: Sequence[int] = DEFAULT_WINDOWS_DAYS,
    opener: Callable[[str], xr.Dataset] = open_gridmet,
    max_dist_km: float = 25.0,
) -> pd.DataFrame:
    """GridMET features per sample, aggregated over windows ending the day before the sample.

    For a sample on UTC day D and window w the feature uses gridMET days D-w ... D-1 (day D
    excluded, see the module docstring). ``pr``, ``pet``, ``etr`` are summed (mm over the
    window); ``th`` is a circular mean (degrees); all others are means (variable's units).

    Args:
        samples: Table with ``time_utc`` (timestamp, UTC; naive means UTC), ``lat``, ``lon``
            (degrees), one row per sample.
        variables: gridMET short names (keys of :data:`GRIDMET_VARIABLES`).
        windows_days: Window lengths in days (positive integers).
        opener: ``opener(var) -> xr.Dataset``; default :func:`open_gridmet` (OPeNDAP).
        max_dist_km: Samples with no valid gridMET cell this close get NaN features.

    Returns:
        Table with the samples' index and one float column per (variable, window), named
        ``aux_<var>_<agg>_<w>d`` (:func:`aux_column`), variable-major in the given order.
        NaN where the window is not fully covered by data.

    """
    specs = [_variable(v) for v in variables]
    windows = [int(w) for w in windows_days]
    if not windows or min(windows) < 1:
        raise ValueError(f"windows_days must be positive integers, got {list(windows_days)}")
    days, lat, lon = _check_samples(samples)
    columns: dict[str, np.ndarray] = {}
    if len(samples) == 0:
        cols = [aux_column(s.name, w) for s in specs for w in windows]
        return pd.DataFrame({c: pd.Series(dtype=float) for c in cols}, index=samples.index)
    first = days.min() - pd.Timedelta(days=max(windows))
    last = days.max() - pd.Timedelta(days=1)
    end = np.asarray((days - first).days, dtype=int)  # row of day D = exclusive window end
    for spec in specs:
        ds = opener(spec.name)
        da = _check_layout(ds, spec, f"opened by {getattr(opener, '__name__', opener)!r}")
        iy, ix, dist = nearest_valid_cells(
            da, lat, lon, mask_day=days.max() - pd.Timedelta(days=1), max_dist_km=max_dist_km
        )
        if (iy < 0).any():
            log.warning(
                "gridMET %s: %d of %d samples have no valid cell within %.0f km (NaN features)",
                spec.name, int((iy < 0).sum()), iy.size, max_dist_km,
            )  # fmt: skip
        ok = iy >= 0
        cells, cell = np.unique(np.column_stack([iy[ok], ix[ok]]), axis=0, return_inverse=True)
        sample_cell = np.full(iy.size, -1)
        sample_cell[ok] = cell.ravel()
        values = _load_cells(da, cells[:, 0], cells[:, 1], first, last)  # (n_days, n_cells)
        for w in windows:
            columns[aux_column(spec.name, w)] = _window_aggregate(
                values, sample_cell, end, w, spec.aggregation
            )
        log.info(
            "gridMET %s: %d samples, %d cells, median distance to cell %.1f km",
            spec.name, len(samples), len(cells), float(np.median(dist)),
        )  # fmt: skip
    return pd.DataFrame(columns, index=samples.index)


def write_aux_features(
    dataset_path: str | os.PathLike[str],
    out_path: str | os.PathLike[str],
    *,
    variables: Sequence[str] = DEFAULT_VARIABLES,
    windows_days: Sequence[int] = DEFAULT_WINDOWS_DAYS,
    opener: Callable[[str], xr.Dataset] = open_gridmet,
) -> pd.DataFrame:
    """AUX features for every row of a labelled dataset, keyed by ``row_id``, written as Parquet.

    The spectrum time ``time_utc`` is the reference day: the features describe the weather
    before the observation, never after it (also for the 8-day-ahead horizon).
    """
    df = pd.read_parquet(dataset_path)
    feats = aux_features(
        df[["time_utc", "lat", "lon"]],
        variables=variables,
        windows_days=windows_days,
        opener=opener,
    )
    out = pd.concat([df[["row_id"]], feats], axis=1)
    write_parquet(out, out_path)
    return out
