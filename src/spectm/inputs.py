"""Checks of user-supplied input files: text encoding, CSV shape, numbers, wavelengths, Rrs.

Every reader of a file a user hands to ``spectm`` (GLERL CSVs, spectra tables, wavelength
tables, manifests) goes through these checks first, so a bad file is refused with one line that
names the file, the line or row and column, and what was expected, instead of a parser's message
without a file name (or a silently accepted broken row):

* :func:`read_text` -- the file exists and is non-empty text: not UTF-16 (byte-order mark or
  every other byte NUL), not binary (NUL bytes), UTF-8 (a BOM is tolerated) or, where allowed,
  latin-1;
* :func:`check_field_counts` -- every CSV record has as many fields as the header (a row cut
  mid-row, or an unquoted comma, is named by its file line);
* :func:`read_csv_table` / :func:`read_table` / :func:`read_parquet_file` -- both of the above,
  then pandas (CSV), or a Parquet file with its errors named;
* :func:`numeric_column` -- text in a numeric column, named by data row, file line and column;
* :func:`check_wavelengths` -- finite, positive, in nm (all below :data:`MIN_WAVELENGTH_NM` looks
  like micrometres), no duplicates, and (where order matters) strictly increasing;
* :func:`check_rrs_magnitude` -- ``|Rrs| <= 1/pi`` sr-1 (:data:`RRS_MAX_SR`);
* :func:`read_spectra_table` -- a table of ``Rrs_<nm>`` spectra with all of the above.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from spectm._io import PathLike
from spectm.tables import RRS_PREFIX, find_rrs_columns

RRS_MAX_SR = 1.0 / np.pi
"""Largest possible Rrs magnitude (sr-1). Assumption: water-leaving reflectance pi*Rrs cannot
exceed 1, so ``|Rrs| > 1/pi`` is not Rrs in sr-1 (reflectance scaled by 10**4, percent units, or
an unmasked fill value). Turbid Lake Erie water is below about 0.05 sr-1."""

MIN_WAVELENGTH_NM = 10.0
"""Wavelengths are nm. Assumption: a set of band centres that are all below 10 is in micrometres
(the sensors read here span about 340-2500 nm, i.e. 0.34-2.5 um), and is refused, not rescaled."""

PARQUET_SUFFIXES = (".parquet", ".pq")
"""File suffixes read as Parquet; anything else is read as CSV."""

_SNIFF_BYTES = 65536


def _sniff(path: Path, data: bytes, what: str) -> None:
    """Refuse empty, UTF-16 and binary files, naming the file and what was expected."""
    if not data.strip():
        size = "0 bytes" if not data else "only white space"
        raise ValueError(f"{path}: the file is empty ({size}); expected {what}")
    head = data[:_SNIFF_BYTES]
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ValueError(
            f"{path}: the file is UTF-16 encoded (byte-order mark {head[:2].hex(' ')}); "
            f"expected {what}, as UTF-8 text (re-save it as UTF-8)"
        )
    if b"\x00" in head:
        odd, even = head[1::2], head[0::2]
        if head.count(b"\x00") * 3 >= len(head) and (
            odd.count(b"\x00") * 4 >= len(odd) * 3 or even.count(b"\x00") * 4 >= len(even) * 3
        ):
            raise ValueError(
                f"{path}: the file looks UTF-16 encoded (every other byte is NUL); "
                f"expected {what}, as UTF-8 text (re-save it as UTF-8)"
            )
        at = head.index(b"\x00")
        raise ValueError(
            f"{path}: not a text file (NUL byte at offset {at}: binary data?); expected {what}"
        )


def read_text(path: PathLike, what: str, *, latin1: bool = False) -> str:
    """The text of a user-supplied file, after refusing what cannot be a text table.

    Args:
        path: The file.
        what: What the file should be, for messages (``"a GLERL sample CSV"``).
        latin1: Decode as latin-1 when the bytes are not UTF-8 (the NCEI 2012-2019 files);
            otherwise invalid UTF-8 is an error naming the line.

    Returns:
        The decoded text (a UTF-8 byte-order mark removed).

    Raises:
        FileNotFoundError: naming the file when it does not exist.
        ValueError: naming the file when it is empty, UTF-16, binary or (without ``latin1``)
            not UTF-8.

    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file; expected {what}")
    if p.is_dir():
        raise IsADirectoryError(f"{p}: is a directory; expected {what}")
    data = p.read_bytes()
    _sniff(p, data, what)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        if latin1:
            return data.decode("latin-1")
        line = data[: err.start].count(b"\n") + 1
        raise ValueError(
            f"{p}: line {line}: byte {data[err.start : err.start + 1].hex()} is not UTF-8; "
            f"expected {what} as UTF-8 text"
        ) from None


def check_field_counts(path: PathLike, text: str, what: str) -> list[int]:
    """Check that every CSV record has the header's number of fields.

    Blank lines are skipped (as pandas does). Quoted fields may hold commas and line breaks.

    Args:
        path: The file (for messages).
        text: Its decoded text.
        what: What the file should be, for messages.

    Returns:
        The 1-based file line on which each data record starts (header excluded, blank lines
        skipped), i.e. the file line of pandas' row ``i`` is ``lines[i]``.

    Raises:
        ValueError: naming the file, the line, the number of fields found and expected.

    """
    reader = csv.reader(io.StringIO(text, newline=""))
    lines: list[int] = []
    try:
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{path}: no header line; expected {what}")
        n = len(header)
        start = reader.line_num + 1
        for record in reader:
            if not record or (len(record) == 1 and not record[0].strip()):
                start = reader.line_num + 1
                continue
            if len(record) != n:
                cut = " (the row is cut short?)" if len(record) < n else " (an unquoted comma?)"
                raise ValueError(
                    f"{path}: line {start}: {len(record)} fields, expected {n} as in the header"
                    f"{cut}; expected {what}"
                )
            lines.append(start)
            start = reader.line_num + 1
    except csv.Error as err:
        raise ValueError(
            f"{path}: line {reader.line_num}: not valid CSV ({err}); expected {what}"
        ) from None
    return lines


def read_csv_table(
    path: PathLike, what: str, *, latin1: bool = False, **read_csv: Any
) -> tuple[pd.DataFrame, list[int]]:
    """Read a user-supplied CSV after :func:`read_text` and :func:`check_field_counts`.

    Args:
        path: The CSV.
        what: What the file should be, for messages.
        latin1: See :func:`read_text`.
        **read_csv: Passed to :func:`pandas.read_csv`.

    Returns:
        The table and the file line of each of its rows (see :func:`check_field_counts`).

    Raises:
        FileNotFoundError: naming the file when it does not exist.
        ValueError: naming the file (and line) when it cannot be a CSV table.

    """
    p = Path(path)
    text = read_text(p, what, latin1=latin1)
    lines = check_field_counts(p, text, what)
    try:
        table = pd.read_csv(io.StringIO(text), **read_csv)
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise ValueError(f"{p}: not a readable CSV table ({first}); expected {what}") from None
    if len(table) != len(lines):  # pandas and csv disagree on the records: refuse, do not guess
        raise ValueError(
            f"{p}: {len(table)} rows read but {len(lines)} CSV records found; expected {what}"
        )
    return table, lines


def read_parquet_file(path: PathLike, what: str) -> pd.DataFrame:
    """Read a Parquet file; a missing, empty or non-Parquet file is an error naming it.

    Raises:
        FileNotFoundError: naming the file when it does not exist.
        ValueError: naming the file, its size and what was expected when it is not Parquet.

    """
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"{p}: no such file; expected {what}")
    if p.is_dir():
        raise IsADirectoryError(f"{p}: is a directory; expected {what}")
    try:
        return pd.read_parquet(p)
    except Exception as err:  # pyarrow raises ArrowInvalid, OSError, TypeError for bad files
        size = p.stat().st_size
        text = str(err).strip()
        first = text.splitlines()[0] if text else type(err).__name__
        raise ValueError(
            f"{p}: not a readable Parquet file ({size} bytes; {first}); expected {what}"
        ) from None


def read_table(path: PathLike, what: str) -> tuple[pd.DataFrame, list[int] | None]:
    """Read a user-supplied table: Parquet by suffix (:data:`PARQUET_SUFFIXES`), else CSV.

    Returns:
        The table and, for a CSV, the file line of each row (None for Parquet).

    Raises:
        FileNotFoundError: naming the file when it does not exist.
        ValueError: naming the file when it is not a readable table of its kind.

    """
    p = Path(path)
    if p.suffix.lower() in PARQUET_SUFFIXES:
        return read_parquet_file(p, what), None
    return read_csv_table(p, what)


def row_name(i: int, lines: list[int] | None) -> str:
    """``data row 3 (file line 5)`` of 0-based row ``i`` (``row 3`` without line numbers)."""
    if lines is None:
        return f"row {i + 1}"
    return f"data row {i + 1} (file line {lines[i]})"


def numeric_column(
    path: PathLike, table: pd.DataFrame, column: str, lines: list[int] | None, expected: str
) -> np.ndarray:
    """A column as float64; a cell that is not a number is an error naming row and column.

    Missing cells (NaN, as pandas reads ``""``, ``NA``, ``NaN``) stay NaN.

    Raises:
        ValueError: naming the file, the first bad data row (and file line), the column, the
            cell and what was expected.

    """
    values = table[column]
    text = values.dtype == object or pd.api.types.is_string_dtype(values)
    if pd.api.types.is_bool_dtype(values) or not (pd.api.types.is_numeric_dtype(values) or text):
        raise ValueError(
            f"{path}: column {column!r} holds {values.dtype} values; expected {expected}"
        )
    num = pd.to_numeric(values, errors="coerce")
    bad = np.asarray(values.notna() & num.isna(), dtype=bool)
    if text:
        bad = bad & np.asarray(values.astype(str).str.strip() != "", dtype=bool)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        more = f"; {int(bad.sum()) - 1} more such cell(s)" if bad.sum() > 1 else ""
        raise ValueError(
            f"{path}: {row_name(i, lines)}, column {column!r}: {values.iloc[i]!r} is not a "
            f"number; expected {expected}{more}"
        )
    return np.asarray(num, dtype=float)


def check_wavelengths(
    wavelengths_nm: Any, where: str, *, increasing: bool = False, names: list[str] | None = None
) -> np.ndarray:
    """Check band centres: finite, > 0, in nm (not um), unique, optionally strictly increasing.

    Args:
        wavelengths_nm: Band centres, shape (n,).
        where: The file and variable/columns, for messages (``"x.nc: wavelength_3d"``).
        increasing: Require strictly increasing order (a coordinate read as is).
        names: Names of the bands (e.g. column names) for messages; default the values.

    Returns:
        The centres as float64, shape (n,).

    Raises:
        ValueError: naming ``where``, the offending values and what was expected.

    """
    wl = np.asarray(wavelengths_nm, dtype=float).ravel()
    label: Callable[[int], str] = (lambda i: f"{wl[i]:g}") if names is None else names.__getitem__
    if wl.size == 0:
        raise ValueError(f"{where}: no wavelengths; expected band centres in nm")
    bad = ~np.isfinite(wl) | (wl <= 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{where}: wavelength {label(i)} is not a positive number of nm")
    if (wl < MIN_WAVELENGTH_NM).all():
        raise ValueError(
            f"{where}: wavelengths {wl.min():g}-{wl.max():g} look like micrometres; expected "
            f"nanometres (e.g. 560, not 0.56; all values are below {MIN_WAVELENGTH_NM:g})"
        )
    if increasing:
        step = np.diff(wl)
        if (step <= 0).any():
            i = int(np.flatnonzero(step <= 0)[0])
            kind = "repeats" if step[i] == 0 else "decreases"
            raise ValueError(
                f"{where}: wavelength {kind} at positions {i} and {i + 1} ({label(i)}, "
                f"{label(i + 1)} nm); expected strictly increasing band centres in nm"
            )
    else:
        _, first, counts = np.unique(wl, return_index=True, return_counts=True)
        if (counts > 1).any():
            j = int(first[np.flatnonzero(counts > 1)[0]])
            twins = [label(int(k)) for k in np.flatnonzero(wl == wl[j])]
            raise ValueError(
                f"{where}: duplicate wavelength {wl[j]:g} nm ({', '.join(twins)}); expected "
                "one band per wavelength"
            )
    return wl


def check_rrs_magnitude(
    rrs: np.ndarray, where: str, *, row: Callable[[int], str], band: Callable[[int], str]
) -> None:
    """Refuse Rrs beyond the physical limit ``|Rrs| <= 1/pi`` sr-1 (NaN = missing, allowed).

    Args:
        rrs: Rrs (sr-1), shape (n, n_bands).
        where: The file, for messages.
        row: Row index -> its name in messages.
        band: Band index -> its name in messages.

    Raises:
        ValueError: naming ``where``, the first offending row and band, the value and the limit.

    """
    x = np.asarray(rrs, dtype=float)
    with np.errstate(invalid="ignore"):
        big = np.abs(x) > RRS_MAX_SR
    big |= np.isinf(x)
    if big.any():
        i = int(np.argmax(big.any(axis=1)))
        j = int(np.argmax(big[i]))
        raise ValueError(
            f"{where}: {row(i)}, {band(j)} = {x[i, j]:.6g} is not Rrs in sr-1: expected "
            f"|Rrs| <= 1/pi = {RRS_MAX_SR:.4f} sr-1 (water-leaving reflectance pi*Rrs <= 1); "
            "reflectance scaled by 10^4 or in percent? Fill values must be empty or NaN"
        )


def read_spectra_table(
    path: PathLike,
    what: str = "a table of Rrs_<nm> spectra (sr-1, one spectrum per row)",
    *,
    check_magnitude: bool = True,
) -> tuple[pd.DataFrame, list[str], np.ndarray]:
    """Read a user-supplied spectra table (CSV, or Parquet by suffix) and check its spectra.

    Args:
        path: The table: one spectrum per row in ``Rrs_<nm>`` columns (sr-1); other columns
            are kept as they are.
        what: What the file should be, for messages.
        check_magnitude: Refuse ``|Rrs| > 1/pi`` (:func:`check_rrs_magnitude`).

    Returns:
        The table with its ``Rrs_<nm>`` columns as float64, those columns sorted by wavelength,
        and their wavelengths (nm).

    Raises:
        FileNotFoundError: naming the file when it does not exist.
        ValueError: naming the file (and row/column) when it is unreadable, has no ``Rrs_<nm>``
            column, a wavelength that is not in nm or repeats, a cell that is not a number, or
            (``check_magnitude``) an impossible Rrs.

    """
    p = Path(path)
    table, lines = read_table(p, what)
    cols, wl = check_spectra(p, table, lines, what, check_magnitude=check_magnitude)
    return table, cols, wl


def check_spectra(
    path: PathLike,
    table: pd.DataFrame,
    lines: list[int] | None,
    what: str,
    *,
    check_magnitude: bool = True,
) -> tuple[list[str], np.ndarray]:
    """Check the ``Rrs_<nm>`` columns of a table read from ``path`` and make them float64.

    Args:
        path: The file (for messages).
        table: Its table, converted in place.
        lines: File line of each row (CSV), or None (Parquet).
        what: What the file should be, for messages.
        check_magnitude: Refuse ``|Rrs| > 1/pi`` (:func:`check_rrs_magnitude`).

    Returns:
        The ``Rrs_<nm>`` columns sorted by wavelength, and their wavelengths (nm).

    Raises:
        ValueError: see :func:`read_spectra_table`.

    """
    try:
        cols, wl = find_rrs_columns(table)
    except ValueError as err:
        raise ValueError(f"{path}: {err}; expected {what}") from None
    check_wavelengths(wl, f"{path}: columns {RRS_PREFIX}<nm>", names=cols)
    expected = "Rrs in sr-1 (a decimal number; empty or NaN when missing)"
    for c in cols:
        table[c] = numeric_column(path, table, c, lines, expected)
    if check_magnitude:
        check_rrs_magnitude(
            table[cols].to_numpy(dtype=float),
            str(path),
            row=lambda i: row_name(i, lines),
            band=lambda j: f"column {cols[j]}",
        )
    return cols, wl
