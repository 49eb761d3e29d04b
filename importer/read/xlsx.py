"""Read one sheet of an Excel workbook (.xlsx, .xlsm) as a :class:`Table`, through openpyxl.

The workbook is opened with ``read_only=True, data_only=True``: rows stream from the zip and a
formula gives the value Excel saved with it. A formula whose value was never saved (a file
written by a program that does not calculate, such as openpyxl) reads as an empty cell; if one
is among the rows read with the header, a notice says so (see ``reader_xlsx_sheet``).

Before openpyxl opens the file, ``reader_guard`` refuses a zip bomb; openpyxl parses with
defusedxml, and a part that declares XML entities (an "XML bomb") is refused with a message.

Every value becomes text (see :func:`cell_text`). Cells that held numbers go into
``SourceRow.numeric``: Excel keeps 15 significant digits, so an id typed as a number may be
damaged, and the validator says so instead of using it. Row numbers are the sheet's own.

The sheet's recorded dimension is never read (it may claim a million rows, or too few): only
the rows in the file are read, so a gap between them costs nothing, and only the header's
columns plus ``MARGIN`` more, so that a stray cell far to the right costs nothing. Values
beyond that margin are ignored silently.
"""

from __future__ import annotations

import warnings
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from datetime import date, datetime, time, timedelta
from itertools import chain, islice
from pathlib import Path
from typing import IO, cast
from xml.etree.ElementTree import ParseError

from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet._read_only import ReadOnlyWorksheet

from importer.errors import InputError
from importer.models import Issue, SourceRow
from importer.read._guard import entity_error, refuse_zip_bomb
from importer.read._header import HeaderRule, find_header
from importer.read._table import BLANK, Table, make_header, pick_sheet, quote
from importer.read._xlsx_sheet import UNSAVED, Row, open_workbook, sheet_rows

#: Columns read beyond the header's last one, to notice values without a column title.
MARGIN = 50
#: Rows fetched from openpyxl at a time (see _fetch).
_BATCH = 256
#: A header is read up to this column at most (Excel has 16,384: XFD).
_MAX_COLUMNS = 16_384
_ZIP = b"PK\x03\x04"
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
#: What openpyxl and zipfile raise for a file that is damaged or not a workbook.
_DAMAGED = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    ParseError,
    KeyError,  # a part missing from the zip
    ValueError,  # openpyxl: invalid XML content; only openpyxl calls are guarded
    TypeError,  # openpyxl's descriptors: an attribute of the wrong type
    OSError,  # openpyxl: "File contains no valid workbook part"
    InvalidFileException,
)
#: Loading also meets openpyxl's own slips on unusual files: a chart sheet without a chart
#: raises AttributeError in read-only mode (openpyxl 3.1.5).
_UNLOADABLE = (*_DAMAGED, AttributeError)


@contextmanager
def open_xlsx(path: Path, *, sheet: str | None = None, header: HeaderRule) -> Iterator[Table]:
    """Open a workbook, pick the sheet, read its header and stream its rows; close it on exit."""
    with path.open("rb") as raw:
        _refuse_non_workbook(path, raw.read(512))
        raw.seek(0)
        _refuse_bomb(path, raw)
        raw.seek(0)
        workbook = _load(path, raw)
        with ExitStack() as stack:
            stack.callback(workbook.close)
            worksheet = _pick_sheet(path, workbook, sheet)
            where = f"{path.name}, sheet {worksheet.title!r}"
            parsed = stack.enter_context(closing(sheet_rows(workbook, worksheet)))
            batch = _fetch(path, where, parsed, 1, _BATCH)
            later = _quietly(path, where, parsed, batch[-1][0] + 1 if batch else 1, _BATCH)
            fetched = chain(batch, later if len(batch) == _BATCH else ())
            header_row, cells, ahead, found = find_header(
                where, fetched, _texts, header, "the sheet is empty"
            )
            names, notices, duplicates = make_header(path, cells, max(header_row, 1), _label)
            # the rest of the first batch is looked at for formulas without a value
            last = ahead[-1][0] if ahead else header_row
            ahead += islice(fetched, sum(1 for number, _ in batch if number > last))
            notices = (*notices, *found, *_unsaved_notice(path, ahead))
            yield Table(
                path=path,
                kind="xlsx",
                header=names,
                header_row=header_row,
                encoding=None,
                delimiter=None,
                sheet=worksheet.title,
                notices=notices,
                rows=_rows(chain(ahead, fetched), len(names)),
                duplicates=duplicates,
            )


def cell_text(value: object) -> str:
    """The text of a cell value: what a person reads in the cell, without number formatting.

    Text is stripped; a whole number is written without ``.0`` (``1e16`` gives
    ``10000000000000000``); other floats as Python's shortest form; booleans as TRUE/FALSE;
    a date-time at midnight as its date (Excel stores dates as date-times), else ISO format.
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip(BLANK)
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else str(value)
    if isinstance(value, datetime):
        if value.time() == time():
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return str(value).strip(BLANK)  # int, and anything openpyxl may add


def _rows(source: Iterator[Row], width: int) -> Iterator[SourceRow]:
    """Shape each row after the header to the header's width; skip blank ones."""
    for number, cells in source:
        values = _values(cells, width + MARGIN)
        extras = values[width:]
        issues = () if extras.count(None) == len(extras) else _long_row(number, width, extras)
        values = values[:width]
        texts = [cell_text(value) for value in values]
        if not issues and not any(texts):
            continue
        texts.extend("" for _ in range(width - len(texts)))
        numeric = frozenset(
            index
            for index, value in enumerate(values)
            if type(value) in (int, float) and texts[index]
        )
        yield SourceRow(number, tuple(texts), issues, numeric)


def _values(cells: list[dict[str, object]], limit: int) -> tuple[object, ...]:
    """A row's values from column A up to its last value, at most ``limit`` columns."""
    columns = [cell for cell in cells if cast(int, cell["column"]) <= limit]
    if not columns:
        return ()
    values: list[object] = [None] * max(cast(int, cell["column"]) for cell in columns)
    for cell in columns:
        values[cast(int, cell["column"]) - 1] = cell["value"]
    return tuple(values)


def _long_row(number: int, width: int, extras: tuple[object, ...]) -> tuple[Issue, ...]:
    """The issue of a row with a value right of the header's last column (none if blank)."""
    for position, value in enumerate(extras, width + 1):
        if text := cell_text(value):
            return (
                Issue(
                    "long_row",
                    f"the row has a value in column {get_column_letter(position)} "
                    f"({quote(text)}), right of the header's last column "
                    f"({get_column_letter(width)}); it is ignored",
                ),
            )
    return ()


def _unsaved_notice(path: Path, rows: list[Row]) -> tuple[str, ...]:
    """A notice if one of ``rows`` has a formula whose value was never saved in the file."""
    for number, cells in rows:
        for cell in cells:
            if cell["value"] is UNSAVED:
                where = f"{get_column_letter(cell['column'])}{number}"
                return (
                    f"{path.name}: cells hold formulas without a saved value (the first is "
                    f"{where}), so they read as empty: the file was written by a program that "
                    "does not calculate formulas. Open it in Excel or LibreOffice and save it "
                    "again to read their values.",
                )
    return ()


def _texts(cells: list[dict[str, object]]) -> list[str]:
    return [cell_text(value) for value in _values(cells, _MAX_COLUMNS)]


def _quietly(path: Path, where: str, parsed: Iterator[Row], first: int, size: int) -> Iterator[Row]:
    """The rows from row ``first`` on, fetched ``size`` then ``_BATCH`` at a time."""
    while True:
        batch = _fetch(path, where, parsed, first, size)
        yield from batch
        if len(batch) < size:
            return
        first, size = batch[-1][0] + 1, _BATCH


def _fetch(path: Path, where: str, parsed: Iterator[Row], first: int, size: int) -> list[Row]:
    """The next ``size`` rows (fewer at the end), from row ``first`` on, with openpyxl's
    warnings silenced (they are about styles and would only reach the terminal) and damage
    turned into InputError. Batches keep the cost of silencing off each row."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return list(islice(parsed, size))
    except _DAMAGED as error:
        raise entity_error(path, error) or InputError(
            f"{where}: the file is damaged: it cannot be read from row {first} on "
            f"({error}). Open it in Excel and save it again."
        ) from None


def _refuse_bomb(path: Path, raw: IO[bytes]) -> None:
    try:
        archive = zipfile.ZipFile(raw)
    except (zipfile.BadZipFile, OSError, EOFError):
        return  # openpyxl reports the damage
    with archive:
        refuse_zip_bomb(path, archive)


def _refuse_non_workbook(path: Path, head: bytes) -> None:
    """Stop at a file that cannot be a workbook, saying what it looks like instead."""
    if not head:
        raise InputError(f"{path.name} is empty (0 bytes). Save the workbook again from Excel.")
    if head.startswith(_OLE2):
        raise InputError(
            f"{path.name} is password-protected, or is an old Excel (.xls) file renamed. "
            "Remove the password (in Excel: File > Info > Protect Workbook > Encrypt with "
            "Password, and clear it), or save it as .xlsx, then import it again."
        )
    if head.startswith(_ZIP):
        return
    if b"\0" not in head:
        raise InputError(
            f"{path.name} is not an Excel workbook: it looks like text (a CSV file?). "
            "If it is CSV, rename it to .csv."
        )
    raise InputError(
        f"{path.name} is not an Excel workbook. Open it in your spreadsheet program and "
        "save it as .xlsx."
    )


def _load(path: Path, raw: IO[bytes]) -> Workbook:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return open_workbook(raw)
    except _UNLOADABLE as error:
        raise entity_error(path, error) or InputError(
            f"{path.name} cannot be read as an Excel workbook ({error}). It may be damaged or "
            "be another kind of zip file: open it in Excel and save it as .xlsx."
        ) from None


def _pick_sheet(path: Path, workbook: Workbook, name: str | None) -> ReadOnlyWorksheet:
    """The sheet called ``name`` (as in Excel, case does not matter), or the first worksheet."""
    first = next((sheet.title for sheet in workbook.worksheets[:1]), None)
    found = [pick_sheet(path, workbook.sheetnames, name, first)]
    sheet = workbook[found[0]]
    if not isinstance(sheet, ReadOnlyWorksheet):
        raise InputError(
            f"{path.name}: the sheet {sheet.title!r} is a chart, not a sheet of cells. "
            "Choose another sheet."
        )
    return sheet


def _label(position: int) -> str:
    return f"column {get_column_letter(position)}"
