"""The GLERL cell parsers one by one, on hand-made cells with hand-computed results.

test_glerl.py reads the bundled files end to end; a mutation run (docs/testing.md) showed that
many cell-level rules were never exercised there: every censoring form, the unit factor on
detection limits, the clock and category boundaries, the Excel-mangling repairs, and the exact
error message. The expected values here are written out by hand.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from spectm.sources.glerl.cells import (
    MISSING_CODES,
    SURFACE_MAX_DEPTH_M,
    cell_error,
    clean_sites,
    parse_categories,
    parse_clock,
    parse_dates,
    parse_measured,
    parse_plain,
)

PATH = Path("glerl_2019.csv")


def cells(*values: str) -> tuple[pd.Series, np.ndarray]:
    """Stripped cells as the readers pass them, and their 1-based data rows (10, 11, ...)."""
    return pd.Series(list(values), dtype=object), np.arange(10, 10 + len(values))


def notes() -> defaultdict[int, list[str]]:
    return defaultdict(list)


def exact(message: str) -> str:
    """A ``pytest.raises(match=)`` pattern for exactly ``message``."""
    return "^" + re.escape(message) + "$"


# --------------------------------------------------------------------------- errors


def test_cell_error_names_file_row_line_column_and_counts_the_others():
    values, rows = cells("ok", "x1", "ok", "x2", "x3")
    bad = np.array([False, True, False, True, True])
    err = cell_error(PATH, "Temp (°C)", values, rows, bad, "a number")
    assert str(err) == (
        "glerl_2019.csv: data row 11 (file line 12), column 'Temp (°C)': cannot parse 'x1' as "
        "a number; 2 more such cell(s) in this column"
    )
    one = cell_error(PATH, "Temp", values, rows, np.array([False, False, False, False, True]), "x")
    assert str(one) == (
        "glerl_2019.csv: data row 14 (file line 15), column 'Temp': cannot parse 'x3' as x"
    )


# --------------------------------------------------------------------------- dates and numbers


def test_parse_dates_three_formats_and_a_bad_cell():
    values, rows = cells("7/1/2019", "7/1/19", "2019-07-01", "12/31/2024")
    got = parse_dates(PATH, "Date", values, rows)
    want = np.array(["2019-07-01", "2019-07-01", "2019-07-01", "2024-12-31"], "datetime64[ns]")
    np.testing.assert_array_equal(got, want)
    assert got.dtype == np.dtype("datetime64[ns]")
    values, rows = cells("7/1/2019", "2019/07/01", "13/1/2019")
    message = (
        "glerl_2019.csv: data row 11 (file line 12), column 'Date': cannot parse '2019/07/01' "
        "as a date (m/d/Y); 1 more such cell(s) in this column"
    )
    with pytest.raises(ValueError, match=exact(message)):
        parse_dates(PATH, "Date", values, rows)


def test_parse_plain_numbers_and_missing_codes():
    values, rows = cells("41.5", "", "nd", "NS", "n/a", "NA", ".", "-83.25")
    got = parse_plain(PATH, "Latitude", values, rows)
    np.testing.assert_array_equal(got, [41.5, *[np.nan] * 6, -83.25])
    assert MISSING_CODES == {"", "nd", "ns", "n/a", "na", "."}
    values, rows = cells("41.5", "41,5")
    message = (
        "glerl_2019.csv: data row 11 (file line 12), column 'Latitude': cannot parse '41,5' "
        "as a number"
    )
    with pytest.raises(ValueError, match=exact(message)):
        parse_plain(PATH, "Latitude", values, rows)


# --------------------------------------------------------------------------- measured values


def test_parse_measured_plain_numbers_fast_path():
    values, rows = cells("1.5", "", "0")
    n = notes()
    value, censored, dl = parse_measured(PATH, "PM (ug/L)", values, rows, n, name="pm", factor=2.0)
    np.testing.assert_array_equal(value, [3.0, np.nan, 0.0])
    assert censored.dtype == bool and not censored.any()
    assert np.isnan(dl).all() and dl.shape == (3,) and not n


def test_parse_measured_censoring_missing_and_uncertainty():
    values, rows = cells("<0.3", "bdl", "BDL", "nd", "1.2 ± 0.1", "2+/-0.5", "5", "")
    n = notes()
    value, censored, dl = parse_measured(
        PATH, "PM", values, rows, n, name="pm", factor=1000.0, bdl_dl=0.1
    )
    np.testing.assert_allclose(value, [np.nan, np.nan, np.nan, np.nan, 1200, 2000, 5000, np.nan])
    assert censored.tolist() == [True, True, True, False, False, False, False, False]
    # '<0.3' is 300 in the harmonised unit; a bare bdl gets bdl_dl, already in that unit
    np.testing.assert_allclose(dl, [300, 0.1, 0.1, np.nan, np.nan, np.nan, np.nan, np.nan])
    assert dict(n) == {
        4: ["pm: reported '1.2 ± 0.1'; value 1.2 kept, uncertainty ±100 (harmonised unit)"],
        5: ["pm: reported '2+/-0.5'; value 2 kept, uncertainty ±500 (harmonised unit)"],
    }


def test_parse_measured_default_unit_and_whole_number_limits():
    values, rows = cells("<5", "7", "<12.5", "nd")
    value, censored, dl = parse_measured(PATH, "Chl", values, rows, notes(), name="chl")
    np.testing.assert_array_equal(value, [np.nan, 7.0, np.nan, np.nan])  # factor 1 by default
    assert censored.tolist() == [True, False, True, False]
    np.testing.assert_array_equal(dl, [5.0, np.nan, 12.5, np.nan])


@pytest.mark.parametrize("cell", ["<x", "< ", "1.2 ± x", "± 1", "abc", "1.2.3"])
def test_parse_measured_bad_cells(cell):
    values, rows = cells("1", "<0.3", cell)
    message = (
        f"glerl_2019.csv: data row 12 (file line 13), column 'PM': cannot parse {cell!r} as a "
        "number, '<limit', bdl, nd or ns"
    )
    with pytest.raises(ValueError, match=exact(message)):
        parse_measured(PATH, "PM", values, rows, notes(), name="pm")


def test_parse_measured_excel_ranges_only_when_asked():
    values, rows = cells("10-May", "3", "1-Jun")
    n = notes()
    value, censored, _ = parse_measured(
        PATH, "Wind (kn)", values, rows, n, name="wind", factor=0.5, excel_ranges=True
    )
    # 10-May is the range 5-10 (midpoint 7.5), 1-Jun the range 6-1 (3.5); then the factor
    np.testing.assert_allclose(value, [3.75, 1.5, 1.75])
    assert not censored.any()
    assert n[0] == ["wind: '10-May' is the Excel-mangled range 5-10 (file unit); midpoint 7.5 used"]
    assert n[2] == ["wind: '1-Jun' is the Excel-mangled range 6-1 (file unit); midpoint 3.5 used"]
    with pytest.raises(ValueError, match=r"cannot parse '10-May'"):
        parse_measured(PATH, "Wind (kn)", values, rows, notes(), name="wind")
    values, rows = cells("10-Foo", "<1")
    with pytest.raises(ValueError, match=r"data row 10 .*cannot parse '10-Foo'"):
        parse_measured(PATH, "Wind", values, rows, notes(), name="wind", excel_ranges=True)


# --------------------------------------------------------------------------- clock times


def test_parse_clock_minutes_placeholder_and_limits():
    values, rows = cells("9:30", "14:05:30", "0:00", "nd", "", "23:59:59", "0:01")
    n = notes()
    got = parse_clock(PATH, "Time", values, rows, n)
    np.testing.assert_allclose(
        got, [570.0, 845.5, np.nan, np.nan, np.nan, 23 * 60 + 59 + 59 / 60, 1.0]
    )
    assert dict(n) == {2: ["Time '0:00' is a placeholder; treated as missing"]}
    for bad in ("24:00", "9:60", "9:30:60", "930", "9:3"):
        values, rows = cells("9:30", bad)
        message = (
            f"glerl_2019.csv: data row 11 (file line 12), column 'Time': cannot parse {bad!r} "
            "as a clock time H:MM"
        )
        with pytest.raises(ValueError, match=exact(message)):
            parse_clock(PATH, "Time", values, rows, notes())


# --------------------------------------------------------------------------- depth categories


def test_parse_categories_names_and_codes():
    values, rows = cells(
        "surface", "S", "b", "Bottom", "Scum", "mid column", "Mid-Column", "mid   column"
    )
    got = parse_categories(PATH, "Depth", values, np.full(8, np.nan), rows, notes())
    assert got.tolist() == [
        "Surface", "Surface", "Bottom", "Bottom", "Scum", "Mid-column", "Mid-column",
        "Mid-column",
    ]  # fmt: skip


def test_parse_categories_blank_is_inferred_from_depth():
    assert SURFACE_MAX_DEPTH_M == 1.0
    values, rows = cells("", "", "", "", "Surface")
    depth = np.array([0.0, 0.5, 1.0, 1.5, np.nan])
    n = notes()
    got = parse_categories(PATH, "Depth", values, depth, rows, n)
    assert got.tolist() == ["Scum", "Surface", "Surface", "Bottom", "Surface"]
    assert dict(n) == {
        0: ["depth_category blank; inferred Scum from sample depth 0 m"],
        1: ["depth_category blank; inferred Surface from sample depth 0.5 m"],
        2: ["depth_category blank; inferred Surface from sample depth 1 m"],
        3: ["depth_category blank; inferred Bottom from sample depth 1.5 m"],
    }
    values, rows = cells("Surface", "", "deep")
    message = (
        "glerl_2019.csv: data row 12 (file line 13), column 'Depth': cannot parse 'deep' as "
        "Surface/Scum/Bottom/Mid-column/S/B"
    )
    with pytest.raises(ValueError, match=exact(message)):
        parse_categories(PATH, "Depth", values, np.array([0.5, 0.5, 0.5]), rows, notes())
    values, rows = cells("Surface", "")
    message = (
        "glerl_2019.csv: data row 11 (file line 12), column 'Depth': cannot parse '' as a depth "
        "category (blank, no depth)"
    )
    with pytest.raises(ValueError, match=exact(message)):
        parse_categories(PATH, "Depth", values, np.array([0.5, np.nan]), rows, notes())


# --------------------------------------------------------------------------- site ids


def test_clean_sites_whitespace_excel_dates_and_transects():
    values, rows = cells("WE  8", "1-Aug", "2-aug", "10-Foo", "T1-5-B", "T1-5-S", "T2-1-B", "WE2")
    cats = np.array(["Surface", "Surface", "Surface", "Surface", "Bottom", "Bottom", "Surface",
                     "Bottom"], dtype=object)  # fmt: skip
    n = notes()
    got = clean_sites(PATH, "Site", values, cats, rows, n, transect=True)
    # T1-5-S is a Bottom row: the suffix does not match, the id stays whole (same for T2-1-B)
    assert got.tolist() == ["WE 8", "8-1", "8-2", "10-Foo", "T1-5", "T1-5-S", "T2-1-B", "WE2"]
    assert dict(n) == {
        1: ["site '1-Aug' is an Excel date mangling; restored to '8-1'"],
        2: ["site '2-aug' is an Excel date mangling; restored to '8-2'"],
    }
    plain = clean_sites(PATH, "Site", values, cats, rows, notes(), transect=False)
    assert plain.tolist()[4:6] == ["T1-5-B", "T1-5-S"]
    values, rows = cells("WE2", "")
    message = (
        "glerl_2019.csv: data row 11 (file line 12), column 'Site': cannot parse '' as a site id "
        "(blank)"
    )
    with pytest.raises(ValueError, match=exact(message)):
        clean_sites(PATH, "Site", values, cats[:2], rows, notes(), transect=False)
