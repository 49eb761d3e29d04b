"""Read one sheet of an .xls, .xlsb or .ods file as a :class:`Table`, through pandas and calamine.

pandas' ``calamine`` engine (the Rust library, through python-calamine) reads old Excel
workbooks, binary ones and OpenDocument spreadsheets without LibreOffice. pandas is told to
keep every cell as the object calamine gives (``dtype=object``, no NA detection), and the text
is made here exactly as for .xlsx (:func:`importer.read.xlsx.cell_text`): an id is never
turned into a number or NaN by pandas. Cells that held numbers go into ``SourceRow.numeric``,
so the validator reports an id that the spreadsheet stored as a number (and may have damaged).

Unlike the CSV and XLSX readers, this one does not stream: calamine and pandas hold the whole
sheet in memory, and calamine has been seen aborting the whole process (not raising) on some
sparse files. So a file larger than ``MAX_BYTES`` is refused before it is opened, and a sheet
of more than ``MAX_ROWS`` rows or ``MAX_COLUMNS`` columns once loaded (at most ``MAX_ROWS + 1``
rows are loaded); such files are read safely after saving them as .xlsx or .csv. Before
calamine opens a zip (.ods), :mod:`importer.read` refuses a zip bomb and an .ods whose
repeated rows or columns add up to more than the limits, which calamine would lay out in memory.

Row numbers are the sheet's own: calamine's grid starts at cell A1. Every value right of the
header's last column is checked, and the first one found is reported as a ``long_row`` issue.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
from python_calamine import CalamineError

from importer.errors import InputError
from importer.models import Issue, SourceRow
from importer.read._guard import refuse_large_ods
from importer.read._header import HeaderRule, find_header, letters
from importer.read._table import Table, make_header, pick_sheet, quote
from importer.read.xlsx import cell_text

#: Files larger than this are refused before calamine opens them.
MAX_BYTES = 50_000_000
#: Sheets with more rows or columns than this are refused once loaded.
MAX_ROWS = 1_000_000
MAX_COLUMNS = 1_000
_SAVE_AS = "Open it in your spreadsheet program and save it as .xlsx or .csv"


@contextmanager
def open_sheet(
    path: Path,
    *,
    sheet: str | None = None,
    header: HeaderRule | None = None,
    max_bytes: int = MAX_BYTES,
    max_rows: int = MAX_ROWS,
    max_columns: int = MAX_COLUMNS,
) -> Iterator[Table]:
    """Load the sheet (default: the first), check its size, read its header, yield its rows."""
    size = path.stat().st_size
    if size > max_bytes:
        raise InputError(
            f"{path.name} is {size / 1e6:.1f} MB, larger than the {max_bytes / 1e6:g} MB that "
            f"relimport reads from {path.suffix} files, which it must hold in memory. "
            f"{_SAVE_AS} to read files this big."
        )
    refuse_large_ods(path, max_rows, max_columns)  # before calamine expands repeated rows
    title, grid = _load(path, sheet, max_rows)
    where = f"{path.name}, sheet {title!r}"
    width = max((len(values) for values in grid), default=0)
    if len(grid) > max_rows or width > max_columns:
        raise InputError(
            f"{where}: the sheet has more than {max_rows:,} rows or {max_columns:,} columns, "
            f"more than relimport reads from {path.suffix} files, which it must hold in "
            f"memory. {_SAVE_AS} to read files this big."
        )
    header_row, cells, ahead, found = find_header(
        where, enumerate(grid, 1), _texts, header or HeaderRule(), "the sheet is empty"
    )
    names, notices, duplicates = make_header(path, cells, max(header_row, 1), _label)
    start = ahead[0][0] - 1 if ahead else header_row
    yield Table(
        path=path,
        kind=path.suffix.lower().lstrip("."),
        header=names,
        header_row=header_row,
        encoding=None,
        delimiter=None,
        sheet=title,
        notices=(*notices, *found),
        rows=_rows(grid, start, len(names)),
        duplicates=duplicates,
    )


def _load(path: Path, name: str | None, max_rows: int) -> tuple[str, list[list[object]]]:
    """The chosen sheet's title and its cells, row by row from A1, as calamine gives them."""
    try:
        with pd.ExcelFile(path, engine="calamine") as book:
            title = pick_sheet(path, [str(title) for title in book.sheet_names], name)
            frame = pd.read_excel(
                book,
                sheet_name=title,
                engine="calamine",
                header=None,
                dtype=object,
                keep_default_na=False,
                na_filter=False,
                nrows=max_rows + 1,
            )
    except (CalamineError, ValueError) as error:  # damaged, encrypted, or not a spreadsheet
        raise InputError(
            f"{path.name} cannot be read as a spreadsheet ({error}). It may be damaged, "
            f"password-protected or not really a {path.suffix} file. {_SAVE_AS}."
        ) from None
    return title, [list(values) for values in frame.itertuples(index=False, name=None)]


def _text(value: object) -> str:
    """A cell's text, as for .xlsx; a missing value (NaN, NaT, None) is an empty cell."""
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return ""
    return cell_text(value)


def _is_number(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _texts(values: list[object]) -> list[str]:
    return [_text(value) for value in values]


def _rows(grid: list[list[object]], header_row: int, width: int) -> Iterator[SourceRow]:
    for number, values in enumerate(grid[header_row:], header_row + 1):
        cells = [_text(value) for value in values[:width]]
        issues = _long_row(number, width, values[width:])
        if not issues and not any(cells):
            continue
        cells.extend("" for _ in range(width - len(cells)))
        numeric = frozenset(
            index
            for index, value in enumerate(values[:width])
            if _is_number(value) and cells[index]
        )
        yield SourceRow(number, tuple(cells), issues, numeric)


def _long_row(number: int, width: int, extras: Sequence[object]) -> tuple[Issue, ...]:
    """The issue of a row with a value right of the header's last column (none if blank)."""
    for position, value in enumerate(extras, width + 1):
        if text := _text(value):
            return (
                Issue(
                    "long_row",
                    f"the row has a value in column {letters(position)} "
                    f"({quote(text)}), right of the header's last column "
                    f"({letters(width)}); it is ignored",
                ),
            )
    return ()


def _label(position: int) -> str:
    return f"column {letters(position)}"
