"""The results as an Excel workbook: the result CSV on a sheet "Rows", the summary on "Summary",
and on "Help" what each result column and status means, in the user's language (the other
sheets hold the files' own text: English names and values).

The workbook is made from the files a run has already written (the result CSV and the dict of
``summary.json``), streamed through openpyxl's write-only mode: a row goes to openpyxl's
scratch file as soon as it is read, so memory does not grow with the results. Column widths
come from the header and the first :data:`SAMPLE` rows, read before the first row is written
(a write-only sheet writes its columns first); there is no second pass.

Every cell is a text cell holding the text the user wrote (but ``row``, ``http_status`` and
``attempts``, relimport's own numbers, are number cells, so that they sort as numbers): the
quote that the CSV puts before a formula character (:func:`importer.report.neutralise`) is
taken off, since a text cell is never evaluated, so ``=1+1`` stays inert and ``000123`` or
``1e5`` stay as written. Text that XML cannot hold (control characters, a carriage return) is
stored in Excel's own escape, ``_xHHHH_``, and text that looks like such an escape gets its
underscore escaped, as Excel does itself; Excel shows the original text.

Excel's limits: a sheet holds :data:`EXCEL_ROWS` rows, so more rows continue on "Rows 2",
"Rows 3"... (each with the header); a cell holds :data:`EXCEL_TEXT` characters, so a longer
one is cut and ends with "…" (the CSV keeps it whole).

The workbook is written under a temporary name beside the target and renamed into place: a
crash never leaves a half-written workbook under the final name.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import suppress
from itertools import chain, count, islice
from pathlib import Path
from typing import TYPE_CHECKING

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ERROR_CODES, Cell
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from importer.i18n import column_help, translate
from importer.models import Status
from importer.read.delimited import FIELD_LIMIT
from importer.report._csv import _restore, result_columns

if TYPE_CHECKING:
    from openpyxl.worksheet.dimensions import ColumnDimension, DimensionHolder
    from openpyxl.worksheet.filters import AutoFilter

    class _Sheet(WriteOnlyWorksheet):
        """What a write-only sheet has at run time (``Worksheet._setup``), and the stubs omit."""

        auto_filter: AutoFilter
        column_dimensions: DimensionHolder[str, ColumnDimension]
else:
    _Sheet = WriteOnlyWorksheet

ROWS_SHEET = "Rows"
SUMMARY_SHEET = "Summary"
HELP_SHEET = "Help"
EXCEL_ROWS = 1_048_576  # rows in a sheet, the header included
EXCEL_TEXT = 32_767  # characters in a cell
SAMPLE = 200  # rows read before the first is written, to size the columns
WIDTHS = (8, 60)  # the narrowest and the widest column, in characters

_BOLD = Font(bold=True)
_GREEN, _GREY, _RED, _AMBER = (
    PatternFill(fill_type="solid", fgColor=colour)
    for colour in ("FFC6EFCE", "FFD9D9D9", "FFFFC7CE", "FFFFEB9C")
)
#: The fill of each status cell: green where the relation is (or is gone) as asked, grey where
#: nothing was to be done, red where the row needs the user. Any other (not_sent...) is amber.
FILLS: Mapping[str, PatternFill] = {
    **dict.fromkeys([Status.CREATED, Status.ALREADY_EXISTS, Status.DELETED], _GREEN),
    **dict.fromkeys(
        [Status.DUPLICATE_ROW, Status.SKIPPED, Status.VALID, Status.GONE, Status.WOULD_DELETE],
        _GREY,
    ),
    **dict.fromkeys([Status.INVALID, Status.UNRESOLVED, Status.AMBIGUOUS, Status.FAILED], _RED),
}
#: What XML cannot hold (all control characters but tab and line feed; a carriage return would
#: be read back as a line feed), and an underscore that would start an escape.
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f]|_(?=x[0-9A-Fa-f]{4}_)")

_Value = str | int | Cell | None  # what a write-only sheet's append takes, cell by cell
#: relimport's own columns that hold whole numbers: number cells, not text.
NUMBER_COLUMNS = ("row", "http_status", "attempts")


def write_workbook(
    result_csv: Path,
    xlsx_path: Path,
    summary: Mapping[str, object],
    *,
    rows_per_sheet: int = EXCEL_ROWS - 1,
    lang: str = "en",
) -> None:
    """Write the rows of ``result_csv``, the ``summary`` (``RunSummary.as_json()``) and the
    help of the columns in ``lang`` to ``xlsx_path``, atomically. InputError if
    ``result_csv`` is not a result file of relimport."""
    if not 0 < rows_per_sheet < EXCEL_ROWS:
        raise ValueError(f"rows_per_sheet must be from 1 to {EXCEL_ROWS - 1:,}")
    temporary = xlsx_path.with_name(f".{xlsx_path.name}.partial")
    xlsx_path.parent.mkdir(parents=True, exist_ok=True)
    book = Workbook(write_only=True)
    try:
        csv.field_size_limit(FIELD_LIMIT)  # as the reader: the CSV holds cells it accepted
        with result_csv.open(encoding="utf-8-sig", newline="") as file:
            _write_rows(book, csv.reader(file), result_csv, rows_per_sheet)
        _write_summary(book.create_sheet(SUMMARY_SHEET), summary)
        _write_help(book.create_sheet(HELP_SHEET), lang)
        book.save(temporary)
        os.replace(temporary, xlsx_path)
    except BaseException:
        _abandon(book)
        temporary.unlink(missing_ok=True)
        raise


def _abandon(book: Workbook) -> None:
    """Close the sheets of a workbook that is not saved: openpyxl's scratch files (in the
    system's temporary folder) are closed now, and removed by openpyxl when Python exits."""
    for sheet in book.worksheets:
        if isinstance(sheet, WriteOnlyWorksheet) and not sheet.closed:
            with suppress(Exception):  # the error to report is the one that stopped the write
                sheet.close()


def _write_rows(
    book: Workbook, reader: Iterator[list[str]], path: Path, rows_per_sheet: int
) -> None:
    """The rows on "Rows", then "Rows 2"... when a sheet is full; each row exactly once."""
    header = [_restore(name) for name in next(reader, [])]
    at = result_columns(tuple(header), path, "An Excel workbook of the results")
    status_at = at["status"]
    numbers = [at[name] for name in NUMBER_COLUMNS]
    sample = list(islice(reader, SAMPLE))
    widths = _widths([header, *sample])
    rows: Iterator[list[str]] = chain(sample, reader)
    for number in count(1):
        sheet: _Sheet = book.create_sheet(ROWS_SHEET if number == 1 else f"{ROWS_SHEET} {number}")
        _start(sheet, header, widths)
        written = 0
        for cells in islice(rows, rows_per_sheet):
            line = [_value(sheet, _restore(cell)) for cell in cells]
            if status_at < len(cells):
                status = cells[status_at]
                line[status_at] = _value(sheet, status, fill=FILLS.get(status, _AMBER))
            for index in numbers:  # so that they sort as numbers (10 after 2)
                if index < len(cells) and cells[index].isdigit():
                    line[index] = int(cells[index])
            sheet.append(line)
            written += 1
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(header))}{written + 1}"
        following = next(rows, None)
        if following is None:
            return
        rows = chain([following], rows)


def _write_summary(sheet: _Sheet, summary: Mapping[str, object]) -> None:
    """Two columns, field and value: nested fields as ``budgets.<location>.requests``."""
    fields = [("field", "value"), *_flatten(summary)]
    _start(sheet, fields[0], _widths(fields, widest=100))
    for field in fields[1:]:
        sheet.append([_value(sheet, text) for text in field])


def _write_help(sheet: _Sheet, lang: str) -> None:
    """Two columns: each result column (and status value), and what it means."""
    rows = [(translate("column", lang), translate("meaning", lang)), *column_help(lang)]
    _start(sheet, rows[0], _widths(rows, widest=100))
    for row in rows[1:]:
        sheet.append([_value(sheet, text) for text in row])


def _start(sheet: _Sheet, header: Iterable[str], widths: Iterable[float]) -> None:
    """Column widths, the header (bold) and frozen panes: all set before the first row."""
    for index, width in enumerate(widths, 1):
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    sheet.append([_value(sheet, name, font=_BOLD) for name in header])


def _widths(rows: Iterable[Iterable[str]], widest: int = WIDTHS[1]) -> list[float]:
    """Each column as wide as its longest text (the header's with room for the filter button),
    within :data:`WIDTHS`."""
    widths: list[int] = []
    for index, row in enumerate(rows):
        room = 4 if index == 0 else 1
        for column, text in enumerate(row):
            if column == len(widths):
                widths.append(WIDTHS[0])
            widths[column] = max(widths[column], min(len(text) + room, widest))
    return [float(width) for width in widths]


def _value(
    sheet: _Sheet, text: str, *, font: Font | None = None, fill: PatternFill | None = None
) -> _Value:
    """``text`` as a text cell: never a number, a formula or an error value."""
    text = _UNSAFE.sub(_escape, text)
    if len(text) > EXCEL_TEXT:
        text = text[: EXCEL_TEXT - 1] + "…"
    if font is None and fill is None and not text.startswith("=") and text not in ERROR_CODES:
        return text or None  # openpyxl stores a str as text unless it is one of those: cheap
    cell = WriteOnlyCell(sheet, text)
    cell.data_type = "s"  # instead of "f" or "e"
    if font is not None:
        cell.font = font
    if fill is not None:
        cell.fill = fill
    return cell


def _escape(match: re.Match[str]) -> str:
    return f"_x{ord(match.group()):04X}_"


def _flatten(value: object, key: str = "") -> Iterator[tuple[str, str]]:
    """(field, text) pairs: a dict's fields as ``key.field``, a list joined, JSON's scalars."""
    if isinstance(value, Mapping) and (value or not key):
        for name, item in value.items():
            yield from _flatten(item, f"{key}.{name}" if key else str(name))
    else:
        yield key, _text(value)


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return ", ".join(_text(item) for item in value)
    if value is None or isinstance(value, Mapping):  # an empty dict
        return ""
    return json.dumps(value) if isinstance(value, bool) else str(value)
