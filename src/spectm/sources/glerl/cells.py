"""Cell-level parsers for the GLERL sample CSVs (dates, clock times, numbers, codes, site ids).

Each parser takes one raw column as stripped strings and returns numpy arrays. A cell it cannot
read raises ``ValueError`` naming the file, the 1-based data row (and file line) and the column.
Rows that needed a repair get a human-readable entry in ``notes`` (position -> list of text).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

Notes = dict[int, list[str]]

#: Codes meaning "no value" (not censored): no data, not sampled, not applicable, placeholder dot.
MISSING_CODES = frozenset({"", "nd", "ns", "n/a", "na", "."})
_MONTHS = {
    m: i + 1 for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split())
}
_EXCEL_DAY_MONTH = r"^(\d{1,2})-([A-Za-z]{3})$"
_PLUS_MINUS = re.compile(r"^(\S+)\s*(?:±|\+/-)\s*(\S+)$")
_DATE_FORMATS = (
    (r"\d{1,2}/\d{1,2}/\d{4}", "%m/%d/%Y"),
    (r"\d{1,2}/\d{1,2}/\d{2}", "%m/%d/%y"),
    (r"\d{4}-\d{2}-\d{2}", "%Y-%m-%d"),
)
_CATEGORIES = {
    "surface": "Surface",
    "s": "Surface",
    "bottom": "Bottom",
    "b": "Bottom",
    "scum": "Scum",
    "mid-column": "Mid-column",
    "mid column": "Mid-column",
}
#: Sample depth (m) at or below which a blank category is taken as Surface (0 m -> Scum).
SURFACE_MAX_DEPTH_M = 1.0


def cell_error(
    path: Path, header: str, values: pd.Series, rows: np.ndarray, bad: np.ndarray, what: str
) -> ValueError:
    """Build a ValueError naming the file, the first bad data row and the column."""
    idx = np.flatnonzero(bad)
    first = int(idx[0])
    more = f"; {len(idx) - 1} more such cell(s) in this column" if len(idx) > 1 else ""
    return ValueError(
        f"{path}: data row {rows[first]} (file line {rows[first] + 1}), column {header!r}: "
        f"cannot parse {values.iloc[first]!r} as {what}{more}"
    )


def _floats(values: pd.Series) -> np.ndarray:
    """Float array; NaN where a cell is not a number."""
    return np.asarray(pd.to_numeric(values, errors="coerce"), dtype=float)


def _is_missing(values: pd.Series) -> np.ndarray:
    return np.asarray(values.str.lower().isin(MISSING_CODES), dtype=bool)


def parse_dates(path: Path, header: str, values: pd.Series, rows: np.ndarray) -> np.ndarray:
    """Calendar dates written m/d/Y, m/d/yy (2025 datashare) or Y-m-d; shape (n,) datetime64[ns]."""
    out = np.full(len(values), np.datetime64("NaT"), dtype="datetime64[ns]")
    for pattern, fmt in _DATE_FORMATS:
        mask = np.asarray(values.str.fullmatch(pattern), dtype=bool)
        if mask.any():
            parsed = pd.to_datetime(values[mask], format=fmt, errors="coerce")
            out[mask] = parsed.to_numpy(dtype="datetime64[ns]")
    bad = np.isnat(out)
    if bad.any():
        raise cell_error(path, header, values, rows, bad, "a date (m/d/Y)")
    return out


def parse_plain(path: Path, header: str, values: pd.Series, rows: np.ndarray) -> np.ndarray:
    """Plain numbers (positions, depths); missing codes -> NaN; anything else is an error."""
    missing = _is_missing(values)
    num = _floats(values.where(~missing))
    bad = ~missing & ~np.isfinite(num)
    if bad.any():
        raise cell_error(path, header, values, rows, bad, "a number")
    return num


def check_range(
    path: Path,
    header: str,
    values: pd.Series,
    parsed: np.ndarray,
    rows: np.ndarray,
    *,
    lo: float,
    hi: float,
    expected: str,
) -> None:
    """Refuse parsed numbers outside ``[lo, hi]`` (NaN is missing, allowed).

    Raises:
        ValueError: naming the file, the first bad data row (and file line), the column, the
            cell and what was expected.

    """
    bad = np.isfinite(parsed) & ((parsed < lo) | (parsed > hi))
    if bad.any():
        idx = np.flatnonzero(bad)
        i = int(idx[0])
        more = f"; {len(idx) - 1} more such cell(s) in this column" if len(idx) > 1 else ""
        raise ValueError(
            f"{path}: data row {rows[i]} (file line {rows[i] + 1}), column {header!r}: "
            f"{values.iloc[i]!r} is outside [{lo:g}, {hi:g}]; expected {expected}{more}"
        )


def exclude_implausible(
    header: str,
    values: pd.Series,
    parsed: tuple[np.ndarray, np.ndarray, np.ndarray],
    excluded: Notes,
    *,
    name: str,
    unit: str,
    lo: float,
    hi: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exclude measured values (and detection limits) outside their plausible range.

    An excluded cell becomes missing (value NaN, not censored, no detection limit), and the
    row's entry in ``excluded`` records the variable, the cell as written, the column and the
    range: the value is dropped with its reason, never kept and never silently.

    Args:
        header: Raw column name (for the record).
        values: The column's stripped cells, shape (n,).
        parsed: ``(value, censored, dl)`` from :func:`parse_measured` (harmonised unit).
        excluded: Row position -> exclusion records, updated in place.
        name: Harmonised variable name.
        unit: Harmonised unit.
        lo: Lowest plausible value (harmonised unit).
        hi: Highest plausible value (harmonised unit).

    Returns:
        ``(value, censored, dl)`` with the excluded cells missing.

    """
    value, censored, dl = (np.array(a) for a in parsed)
    with np.errstate(invalid="ignore"):
        bad = (np.isfinite(value) & ((value < lo) | (value > hi))) | (
            censored & np.isfinite(dl) & ((dl < lo) | (dl > hi))
        )
    for i in map(int, np.flatnonzero(bad)):
        excluded[i].append(
            f"{name}: {values.iloc[i]!r} (column {header!r}) is outside the plausible range "
            f"{lo:g}..{hi:g} {unit}; excluded"
        )
    value[bad] = np.nan
    censored[bad] = False
    dl[bad] = np.nan
    return value, censored, dl


def parse_measured(
    path: Path,
    header: str,
    values: pd.Series,
    rows: np.ndarray,
    notes: Notes,
    *,
    name: str,
    factor: float = 1.0,
    bdl_dl: float = np.nan,
    excel_ranges: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse a measured variable with censoring and missing codes.

    Args:
        path: File (for messages).
        header: Raw column name (for messages).
        values: Stripped cells, shape (n,).
        rows: 1-based data row numbers, shape (n,).
        notes: Row notes, updated in place.
        name: Harmonised variable name (for notes).
        factor: Unit conversion applied to values and detection limits.
        bdl_dl: Detection limit (output unit) for a bare ``bdl``.
        excel_ranges: Accept Excel-mangled ranges such as ``10-May`` (= 5-10) as their midpoint.

    Returns:
        ``(value, censored, dl)``, each shape (n,): value NaN when missing or censored.

    """
    blank = np.asarray(values == "", dtype=bool)
    fast = _floats(values.where(~blank))
    if np.all(blank | np.isfinite(fast)):  # the common case: plain numbers and blanks only
        return fast * factor, np.zeros(len(values), dtype=bool), np.full(len(values), np.nan)
    low = values.str.lower()
    missing = np.asarray(low.isin(MISSING_CODES), dtype=bool)
    bdl = np.asarray(low == "bdl", dtype=bool)
    below = np.asarray(values.str.startswith("<"), dtype=bool)
    plus_minus = np.asarray(values.str.contains(r"±|\+/-", regex=True), dtype=bool)
    plain = ~(missing | bdl | below | plus_minus)
    value = np.where(plain, _floats(values.where(plain)), np.nan)
    bad = plain & ~np.isfinite(value)
    dl = np.full(len(values), np.nan)
    limit = _floats(values.where(below).str[1:].str.strip())
    dl[below] = limit[below]
    bad |= below & ~np.isfinite(limit)
    for i in map(int, np.flatnonzero(plus_minus)):
        match = _PLUS_MINUS.match(values.iloc[i])
        parts = _floats(pd.Series(match.groups())) if match else np.array([np.nan, np.nan])
        if not np.isfinite(parts).all():
            bad[i] = True
            continue
        value[i] = parts[0]
        notes[i].append(
            f"{name}: reported {values.iloc[i]!r}; value {parts[0]:g} kept, "
            f"uncertainty ±{parts[1] * factor:g} (harmonised unit)"
        )
    if excel_ranges and bad.any():
        for i in map(int, np.flatnonzero(bad)):
            match = re.match(_EXCEL_DAY_MONTH, values.iloc[i])
            if match and match.group(2).lower() in _MONTHS:
                low_end, high_end = _MONTHS[match.group(2).lower()], int(match.group(1))
                value[i] = (low_end + high_end) / 2.0
                bad[i] = False
                notes[i].append(
                    f"{name}: {values.iloc[i]!r} is the Excel-mangled range "
                    f"{low_end}-{high_end} (file unit); midpoint {value[i]:g} used"
                )
    if bad.any():
        raise cell_error(path, header, values, rows, bad, "a number, '<limit', bdl, nd or ns")
    dl = dl * factor
    dl[bdl] = bdl_dl
    return value * factor, below | bdl, dl


def parse_clock(
    path: Path, header: str, values: pd.Series, rows: np.ndarray, notes: Notes
) -> np.ndarray:
    """Local clock times ``H:MM[:SS]`` as minutes after midnight, shape (n,); NaN when missing.

    ``0:00`` is a placeholder in the 2025 datashare (sampling runs 07-16 h local): it is treated
    as missing and noted.
    """
    missing = _is_missing(values)
    parts = values.str.extract(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
    hours, mins = _floats(parts[0]), _floats(parts[1])
    secs = np.nan_to_num(_floats(parts[2]), nan=0.0)
    ok = np.isfinite(hours) & np.isfinite(mins) & (hours < 24) & (mins < 60) & (secs < 60)
    bad = ~missing & ~ok
    if bad.any():
        raise cell_error(path, header, values, rows, bad, "a clock time H:MM")
    minutes = np.where(ok, hours * 60 + mins + secs / 60, np.nan)
    for i in map(int, np.flatnonzero(minutes == 0)):
        minutes[i] = np.nan
        notes[i].append(f"{header} '0:00' is a placeholder; treated as missing")
    return minutes


def parse_categories(
    path: Path,
    header: str,
    values: pd.Series,
    sample_depth_m: np.ndarray,
    rows: np.ndarray,
    notes: Notes,
) -> np.ndarray:
    """Depth categories normalised to Surface / Scum / Bottom / Mid-column, shape (n,).

    A blank category (three 2025 rows) is inferred from the sample depth: 0 m -> Scum,
    <= 1 m -> Surface, deeper -> Bottom; the inference is noted on the row.
    """
    low = values.str.lower().str.replace(r"\s+", " ", regex=True)
    mapped = np.array(low.map(_CATEGORIES), dtype=object)
    blank = np.asarray(low == "", dtype=bool)
    unknown = ~blank & pd.isna(mapped)
    if unknown.any():
        raise cell_error(path, header, values, rows, unknown, "Surface/Scum/Bottom/Mid-column/S/B")
    no_depth = blank & ~np.isfinite(sample_depth_m)
    if no_depth.any():
        raise cell_error(path, header, values, rows, no_depth, "a depth category (blank, no depth)")
    for i in map(int, np.flatnonzero(blank)):
        depth = sample_depth_m[i]
        mapped[i] = (
            "Scum" if depth == 0 else "Surface" if depth <= SURFACE_MAX_DEPTH_M else "Bottom"
        )
        notes[i].append(f"depth_category blank; inferred {mapped[i]} from sample depth {depth:g} m")
    return mapped


def clean_sites(
    path: Path,
    header: str,
    values: pd.Series,
    categories: np.ndarray,
    rows: np.ndarray,
    notes: Notes,
    *,
    transect: bool,
) -> np.ndarray:
    """Site ids with whitespace collapsed and Excel date-mangling undone, shape (n,).

    * ``1-Aug`` / ``2-Aug`` (2014-08-04 special stations): Excel turned the typed ``8-1`` /
      ``8-2`` into dates, the same way the file's wind ranges ``5-10`` became ``10-May``; they are
      restored to ``8-1`` / ``8-2`` (the raw id stays in ``site_raw``).
    * Transect ids ``T1-5-B`` become the station ``T1-5`` (depth suffix matches the category).
    """
    site = values.str.replace(r"\s+", " ", regex=True)
    blank = np.asarray(site == "", dtype=bool)
    if blank.any():
        raise cell_error(path, header, values, rows, blank, "a site id (blank)")
    out = np.array(site, dtype=object)
    for i, text in enumerate(out):
        match = re.match(_EXCEL_DAY_MONTH, text)
        if match and match.group(2).lower() in _MONTHS:
            out[i] = f"{_MONTHS[match.group(2).lower()]}-{int(match.group(1))}"
            notes[i].append(f"site {text!r} is an Excel date mangling; restored to {out[i]!r}")
        elif transect:
            parts = re.match(r"^(.+)-([SB])$", text)
            if parts and str(categories[i]).startswith(parts.group(2)):
                out[i] = parts.group(1)
    return out
