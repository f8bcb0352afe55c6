"""NOAA GLERL western Lake Erie weekly monitoring samples: read, harmonise, QC and write.

One reader for all three header eras (see :mod:`spectm.sources.glerl.columns`). Every row becomes
one sample in a single harmonised schema (:data:`SAMPLE_COLUMNS`). Time is local Eastern time
in the files and is converted to UTC with daylight-saving rules (``America/New_York``).

Cell rules for measured variables:

* blank, ``nd`` (no data), ``ns`` (not sampled), ``n/a``, ``na``, ``.`` -> NaN, not censored;
* ``<x`` -> NaN, censored, detection limit ``x``;
* ``bdl`` / ``BDL`` -> NaN, censored, detection limit = the variable's documented default
  (microcystin ELISA 0.1 µg/L; NaN for every other variable);
* ``x ± u`` -> ``x``, and the uncertainty is written to the row's ``notes``;
* any other non-numeric cell -> ``ValueError`` naming the file, data row and column.

Value checks (``docs/usage.md``, "Input checks"):

* latitude outside [-90, 90] or longitude outside [-180, 180] degrees -> ``ValueError`` naming
  the file, data row and column (no position can be there: the file is broken);
* a possible position far from Lake Erie is kept and flagged (``position_flag``): more than
  ``position_max_km`` from its station median, or outside :data:`LAKE_ERIE_REGION`;
* a measured value (or ``<x`` detection limit) outside its variable's plausible range
  (``Variable.valid_min``/``valid_max``: negative concentrations, microcystin above
  :data:`~spectm.sources.glerl.columns.MICROCYSTIN_MAX_UGL`, ...) is excluded: set missing, with
  the reason in the row's ``qc_excluded`` column and one warning per file.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from pyproj import Geod

from spectm._io import write_csv, write_parquet
from spectm.data_files import data_path
from spectm.inputs import read_csv_table
from spectm.sources.glerl.cells import (
    Notes,
    check_range,
    clean_sites,
    exclude_implausible,
    parse_categories,
    parse_clock,
    parse_dates,
    parse_measured,
    parse_plain,
)
from spectm.sources.glerl.columns import (
    ERA_SNAKECASE,
    ERAS,
    IGNORED_COLUMNS,
    REQUIRED_COLUMNS,
    SNAKECASE_STATION_EXTRA_REQUIRED,
    VARIABLES,
    era_column_map,
    normalise_header,
)
from spectm.sources.glerl.remote import BUNDLED_FILES

__all__ = [
    "READ_COLUMNS",
    "SAMPLE_COLUMNS",
    "add_position_qc",
    "bundled_glerl_files",
    "harmonise_samples",
    "read_glerl_csv",
    "samples_summary",
    "station_coordinates",
    "write_samples",
]

log = logging.getLogger(__name__)

TIMEZONE = "America/New_York"
#: (lon_min, lat_min, lon_max, lat_max), degrees: Lake Erie (about 41.4-42.9 N, 78.9-83.5 W)
#: widened by about half a degree. A sample position outside it is flagged (``position_flag``)
#: even when its site has no station median (an ASSUMPTION: the region is generous on purpose,
#: the distance to the station median is the finer test).
LAKE_ERIE_REGION: tuple[float, float, float, float] = (-84.0, 40.85, -78.35, 43.4)
#: Local clock time assumed when a sample (and its station visit) has none: noon, an ASSUMPTION.
ASSUMED_LOCAL_MINUTES = 12 * 60
_VISIT_FIELDS = ("_minutes", "lat", "lon", "station_depth_m")

_ID_COLUMNS = ["sample_id", "source_file", "source_row", "era", "survey", "site", "site_raw"]
_TIME_COLUMNS = ["time_utc", "time_local", "time_assumed"]
_POSITION_COLUMNS = ["lat", "lon", "visit_filled"]
_QC_COLUMNS = ["station_lat", "station_lon", "dist_to_station_km", "position_flag"]
_DEPTH_COLUMNS = ["station_depth_m", "sample_depth_m", "depth_category", "sky"]
_VARIABLE_COLUMNS = [c for v in VARIABLES for c in (v.name, f"{v.name}_censored", f"{v.name}_dl")]
#: Columns of :func:`read_glerl_csv` (no position QC yet).
READ_COLUMNS = [
    *_ID_COLUMNS,
    *_TIME_COLUMNS,
    *_POSITION_COLUMNS,
    *_DEPTH_COLUMNS,
    *_VARIABLE_COLUMNS,
    "notes",
    "qc_excluded",
]
#: The harmonised sample table written by :func:`write_samples`, in order.
SAMPLE_COLUMNS = [
    *_ID_COLUMNS,
    *_TIME_COLUMNS,
    *_POSITION_COLUMNS,
    *_QC_COLUMNS,
    *_DEPTH_COLUMNS,
    *_VARIABLE_COLUMNS,
    "notes",
    "qc_excluded",
]


def bundled_glerl_files() -> list[Path]:
    """Paths of the 8 GLERL sample CSVs shipped as package data, oldest first."""
    return [data_path("glerl", name) for name in BUNDLED_FILES]


def station_coordinates() -> pd.DataFrame:
    """Station medians of the WE sites (``glerl_station_coordinates_derived.csv``).

    Returns:
        Table indexed by ``station`` with ``median_lat``, ``median_lon`` (deg, WGS84) and the
        file's bookkeeping columns.

    """
    path = data_path("glerl", "glerl_station_coordinates_derived.csv")
    table = pd.read_csv(path, dtype={"station": str})
    missing = {"station", "median_lat", "median_lon"} - set(table.columns)
    if missing:
        raise ValueError(f"{path}: missing column(s) {sorted(missing)}")
    return table.set_index("station")


def read_glerl_csv(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read one GLERL sample CSV of any era into the harmonised per-sample schema.

    Rows of one station visit (same file, date and site) share where and when: a Bottom / Scum /
    Mid-column row without clock time, position or station depth takes them from the visit's row
    that has them (``visit_filled``). A sample whose visit has no clock time is put at local noon
    (``time_assumed``, an ASSUMPTION).

    Args:
        path: A CSV in one of the three header eras (UTF-8, else latin-1).

    Returns:
        One row per data row (fully blank rows dropped), columns :data:`READ_COLUMNS`.
        ``time_utc`` is datetime64[ns, UTC]; measured variables are float with ``_censored``
        (bool) and ``_dl`` (float, same unit) companions. A measured value outside its
        plausible range is missing and ``qc_excluded`` says which and why ("" when none).

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: An empty, UTF-16 or binary file, a record whose field count differs from
            the header's, an unknown header layout, missing required column(s), an unparseable
            cell, a latitude/longitude outside the degree ranges or a negative depth; the
            message names the file (and line, or data row and column for a cell).

    """
    src = Path(path)
    raw = _read_table(src)
    era, fields = _map_columns(src, raw.columns)
    keep = ~np.asarray((raw == "").all(axis=1), dtype=bool)
    rows = np.flatnonzero(keep) + 1
    raw = raw.loc[keep].reset_index(drop=True)
    notes: Notes = defaultdict(list)
    transect = era == ERA_SNAKECASE and normalise_header(fields["site"]) == "sample_id"
    factors = {field: factor for field, factor in era_column_map(era).values()}

    def column(field: str) -> tuple[str, pd.Series]:
        header = fields.get(field, field)
        return header, raw[header] if field in fields else pd.Series([""] * len(raw), dtype=str)

    cols: dict[str, object] = {
        "sample_id": [f"{src.stem}:{r}" for r in rows],
        "source_file": src.name,
        "source_row": rows,
        "era": era,
        "survey": "transect" if transect else "weekly",
        "_date": parse_dates(src, *column("date"), rows),
    }
    degrees = "in decimal degrees (WGS84) within"
    for field, lo, hi, expected in (
        ("lat", -90.0, 90.0, f"a latitude {degrees} [-90, 90]"),
        ("lon", -180.0, 180.0, f"a longitude {degrees} [-180, 180]"),
        ("station_depth_m", 0.0, np.inf, "a depth in metres >= 0"),
        ("sample_depth_m", 0.0, np.inf, "a depth in metres >= 0"),
    ):
        header, values = column(field)
        cols[field] = parse_plain(src, header, values, rows)
        check_range(src, header, values, np.asarray(cols[field]), rows, lo=lo, hi=hi,
                    expected=expected)  # fmt: skip
    depth = np.asarray(cols["sample_depth_m"], dtype=float)
    categories = parse_categories(src, *column("depth_category"), depth, rows, notes)
    cols["depth_category"] = categories
    header, sites = column("site")
    cols["site_raw"] = sites.str.replace(r"\s+", " ", regex=True).to_numpy()
    cols["site"] = clean_sites(src, header, sites, categories, rows, notes, transect=transect)
    minutes = parse_clock(src, *column("time"), rows, notes)
    if "time_departure" in fields:  # datashare: arrival time, else departure time
        departure = parse_clock(src, *column("time_departure"), rows, notes)
        minutes = np.where(np.isnan(minutes), departure, minutes)
    cols["_minutes"] = minutes
    cols["sky"] = column("sky")[1].replace("", np.nan).to_numpy()
    excluded: Notes = defaultdict(list)
    for var in VARIABLES:
        header, values = column(var.name)
        parsed = parse_measured(
            src,
            header,
            values,
            rows,
            notes,
            name=var.name,
            factor=factors.get(var.name, 1.0),
            bdl_dl=var.bdl_dl,
            excel_ranges=var.name == "wind_speed_ms",
        )
        value, censored, dl = exclude_implausible(
            header,
            values,
            parsed,
            excluded,
            name=var.name,
            unit=var.unit,
            lo=var.valid_min,
            hi=var.valid_max,
        )
        cols[var.name], cols[f"{var.name}_censored"], cols[f"{var.name}_dl"] = value, censored, dl
    _warn_excluded(src, excluded, rows)
    out = pd.DataFrame(cols, index=raw.index)
    visit_filled = _fill_from_visit(out)
    times = _local_times(src, out["_date"].to_numpy(), out["_minutes"].to_numpy(), rows)
    extra = pd.DataFrame(
        {
            **times,
            "visit_filled": visit_filled,
            "notes": ["; ".join(notes.get(i, [])) for i in range(len(out))],
            "qc_excluded": ["; ".join(excluded.get(i, [])) for i in range(len(out))],
        },
        index=out.index,
    )
    out = pd.concat([out, extra], axis=1)
    return out[READ_COLUMNS]


def add_position_qc(df: pd.DataFrame, stations: pd.DataFrame, *, max_km: float) -> pd.DataFrame:
    """Compare each sample position with its station median (geodesic distance on WGS84).

    Args:
        df: Samples with ``site``, ``lat``, ``lon`` (deg).
        stations: Station medians indexed by station id (or with a ``station`` column), columns
            ``median_lat`` and ``median_lon`` (deg), as :func:`station_coordinates` returns.
        max_km: Distance above which ``position_flag`` is set, km.

    Returns:
        A copy of ``df`` with ``station_lat``, ``station_lon`` (NaN for sites without a median,
        e.g. special ids and transects), ``dist_to_station_km`` (NaN when either position is
        missing) and ``position_flag`` (True when the distance exceeds ``max_km`` or the
        position lies outside :data:`LAKE_ERIE_REGION`).

    """
    table = stations.set_index("station") if "station" in stations.columns else stations
    medians = table.reindex(df["site"].astype(str).to_numpy())
    station_lat = medians["median_lat"].to_numpy(dtype=float)
    station_lon = medians["median_lon"].to_numpy(dtype=float)
    lat = df["lat"].to_numpy(dtype=float)
    lon = df["lon"].to_numpy(dtype=float)
    ok = np.isfinite(lat) & np.isfinite(lon) & np.isfinite(station_lat) & np.isfinite(station_lon)
    dist_km = np.full(len(df), np.nan)
    if ok.any():
        _, _, metres = Geod(ellps="WGS84").inv(lon[ok], lat[ok], station_lon[ok], station_lat[ok])
        dist_km[ok] = np.asarray(metres) / 1000.0
    out = df.copy()
    out["station_lat"] = station_lat
    out["station_lon"] = station_lon
    out["dist_to_station_km"] = dist_km
    lon_min, lat_min, lon_max, lat_max = LAKE_ERIE_REGION
    with np.errstate(invalid="ignore"):
        away = (lat < lat_min) | (lat > lat_max) | (lon < lon_min) | (lon > lon_max)
    out["position_flag"] = np.where(ok, dist_km > max_km, False) | away
    return out


def harmonise_samples(
    paths: Sequence[str | os.PathLike[str]],
    *,
    stations: pd.DataFrame | None = None,
    position_max_km: float,
) -> pd.DataFrame:
    """Read GLERL CSVs, concatenate, add position QC, sort by time and check ids are unique.

    Args:
        paths: Sample CSVs (any era, any order).
        stations: Station medians; :func:`station_coordinates` when None.
        position_max_km: Position-flag threshold, km from the station median.

    Returns:
        The harmonised table, columns :data:`SAMPLE_COLUMNS`, sorted by ``time_utc`` (ties by
        file and row).

    Raises:
        ValueError: No paths, a bad file (see :func:`read_glerl_csv`) or duplicate ``sample_id``
            (e.g. the same file given twice).

    """
    if not paths:
        raise ValueError("harmonise_samples: no input CSV paths given")
    frames = [read_glerl_csv(p) for p in paths]
    df = pd.concat(frames, ignore_index=True)
    duplicated = df["sample_id"][df["sample_id"].duplicated()].unique()
    if len(duplicated):
        raise ValueError(f"duplicate sample_id(s) {list(duplicated[:5])} (is a file listed twice?)")
    table = station_coordinates() if stations is None else stations
    qc = add_position_qc(df, table, max_km=position_max_km)
    qc = qc.sort_values(["time_utc", "source_file", "source_row"], kind="stable")
    return qc[SAMPLE_COLUMNS].reset_index(drop=True)


def write_samples(
    paths: Sequence[str | os.PathLike[str]],
    out_parquet: str | os.PathLike[str],
    *,
    summary_path: str | os.PathLike[str] | None = None,
    position_max_km: float,
) -> Path:
    """Harmonise ``paths`` and write the samples table (Parquet) and optionally its summary (CSV).

    Both files are written atomically, and only after every input was read: on any error
    nothing new is left at ``out_parquet`` or ``summary_path``.

    Args:
        paths: Sample CSVs (any era).
        out_parquet: Destination of the :data:`SAMPLE_COLUMNS` table.
        summary_path: Destination of :func:`samples_summary` as CSV, if wanted.
        position_max_km: Position-flag threshold, km.

    Returns:
        The Parquet path.

    """
    df = harmonise_samples(paths, position_max_km=position_max_km)
    summary = samples_summary(df) if summary_path is not None else None
    write_parquet(df, out_parquet)
    if summary is not None and summary_path is not None:
        write_csv(summary, summary_path)
    return Path(out_parquet)


def samples_summary(df: pd.DataFrame) -> pd.DataFrame:
    """Count samples per sampling year (local) and site, for the report.

    Args:
        df: Harmonised samples (:data:`SAMPLE_COLUMNS`).

    Returns:
        Tidy table: ``year``, ``site``, ``n_samples``, ``n_surface``, ``n_scum``, ``n_bottom``,
        ``n_pmc`` (particulate microcystin reported, censored included), ``n_pmc_censored``,
        ``n_time_assumed``, ``n_position_flag``, ``first_date``, ``last_date`` (local dates).

    """
    local = df["time_utc"].dt.tz_convert(TIMEZONE)
    pmc = "particulate_microcystin_ugL"
    work = pd.DataFrame(
        {
            "year": local.dt.year,
            "site": df["site"],
            "surface": df["depth_category"] == "Surface",
            "scum": df["depth_category"] == "Scum",
            "bottom": df["depth_category"] == "Bottom",
            "pmc": df[pmc].notna() | df[f"{pmc}_censored"],
            "pmc_censored": df[f"{pmc}_censored"],
            "time_assumed": df["time_assumed"],
            "position_flag": df["position_flag"],
            "date": local.dt.strftime("%Y-%m-%d"),
        }
    )
    grouped = work.groupby(["year", "site"], sort=True)
    summary = grouped.agg(
        n_samples=("surface", "size"),
        n_surface=("surface", "sum"),
        n_scum=("scum", "sum"),
        n_bottom=("bottom", "sum"),
        n_pmc=("pmc", "sum"),
        n_pmc_censored=("pmc_censored", "sum"),
        n_time_assumed=("time_assumed", "sum"),
        n_position_flag=("position_flag", "sum"),
        first_date=("date", "min"),
        last_date=("date", "max"),
    )
    return summary.reset_index()


# --------------------------------------------------------------------------- reading helpers


def _read_table(path: Path) -> pd.DataFrame:
    """All cells as stripped strings; UTF-8 (BOM tolerated) first, latin-1 as fallback.

    An empty, UTF-16 or binary file, or a record whose field count differs from the header's
    (a row cut mid-row), is an error naming the file and the line (:mod:`spectm.inputs`).
    """
    table, _ = read_csv_table(
        path, "a GLERL sample CSV", latin1=True, dtype=object, keep_default_na=False
    )
    return table.apply(lambda col: col.str.strip())


def _map_columns(path: Path, header: pd.Index) -> tuple[str, dict[str, str]]:
    """Detect the era from the header; return it and harmonised field -> raw column name."""
    names = {normalise_header(str(h)): str(h) for h in header}
    scores = {era: len(names.keys() & era_column_map(era).keys()) for era in ERAS}
    ranked = sorted(ERAS, key=lambda e: scores[e], reverse=True)
    era = ranked[0]
    if scores[era] < 3 or scores[ranked[1]] == scores[era]:
        raise ValueError(f"{path}: header does not match any GLERL column era: {list(header)}")
    missing = []
    for need in REQUIRED_COLUMNS[era]:
        options = need if isinstance(need, tuple) else (need,)
        if not any(normalise_header(o) in names for o in options):
            missing.append(" or ".join(options))
    if era == ERA_SNAKECASE and "station_name" in names:
        missing += [c for c in SNAKECASE_STATION_EXTRA_REQUIRED if c not in names]
    if missing:
        raise ValueError(f"{path}: missing required column(s) {missing} for the {era} layout")
    column_map = era_column_map(era)
    ignored = {normalise_header(c) for c in IGNORED_COLUMNS[era]}
    fields: dict[str, str] = {}
    for key, raw_name in names.items():
        if key in ignored:
            continue
        if key not in column_map:
            warnings.warn(f"{path}: column {raw_name!r} is not harmonised (ignored)", stacklevel=3)
            continue
        field = column_map[key][0]
        if field in fields and field != "site":
            raise ValueError(
                f"{path}: columns {fields[field]!r} and {raw_name!r} both give {field}"
            )
        fields.setdefault(field, raw_name)
    if "station_name" in names:  # a weekly file that also carries sample_id: the station wins
        fields["site"] = names["station_name"]
    return era, fields


def _warn_excluded(path: Path, excluded: Notes, rows: np.ndarray) -> None:
    """One warning per file with excluded values: how many, and the first one with its row."""
    if not excluded:
        return
    first = min(excluded)
    count = sum(len(v) for v in excluded.values())
    log.warning(
        "%s: %d measured value(s) in %d row(s) excluded as implausible (set missing; see column "
        "qc_excluded), first data row %d (file line %d): %s",
        path,
        count,
        len(excluded),
        rows[first],
        rows[first] + 1,
        excluded[first][0],
    )


def _fill_from_visit(out: pd.DataFrame) -> np.ndarray:
    """Fill time / position / station depth from the same visit (date, site); bool (n,) filled."""
    filled = np.zeros(len(out), dtype=bool)
    groups = out.groupby(["_date", "site"], sort=False, dropna=False)
    for field in _VISIT_FIELDS:
        distinct = groups[field].transform("nunique").to_numpy()
        first = groups[field].transform("first").to_numpy(dtype=float)
        current = out[field].to_numpy(dtype=float)
        fill = np.isnan(current) & (distinct == 1)
        out[field] = np.where(fill, first, current)
        filled |= fill
    return filled


def _local_times(
    path: Path, dates: np.ndarray, minutes: np.ndarray, rows: np.ndarray
) -> dict[str, np.ndarray]:
    """UTC and local ISO times from local dates and clock minutes (NaN -> noon, assumed).

    Returns:
        ``time_utc`` (datetime64[ns, UTC]), ``time_local`` (ISO 8601 with UTC offset) and
        ``time_assumed`` (bool), each shape (n,).

    """
    assumed = np.isnan(minutes)
    clock = np.where(assumed, ASSUMED_LOCAL_MINUTES, minutes)
    naive = pd.Series(dates + pd.to_timedelta(clock, unit="min").to_numpy())
    local = naive.dt.tz_localize(TIMEZONE, ambiguous="NaT", nonexistent="NaT")
    bad = np.asarray(local.isna(), dtype=bool)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(
            f"{path}: data row {rows[i]}: local time {naive.iloc[i]} is ambiguous or does not "
            f"exist in {TIMEZONE} (daylight-saving change)"
        )
    iso = local.dt.strftime("%Y-%m-%dT%H:%M:%S%z")
    return {
        "time_utc": local.dt.tz_convert("UTC").astype("datetime64[ns, UTC]").array,
        "time_local": (iso.str[:-2] + ":" + iso.str[-2:]).to_numpy(),
        "time_assumed": assumed,
    }
