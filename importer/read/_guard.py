"""Checks of a spreadsheet's zip made before a library parses it, so that a hostile file is
refused cheaply instead of costing the machine its memory or the run its time.

* :func:`refuse_zip_bomb` reads only the zip's directory: a file whose parts would unpack to
  more than ``MAX_UNPACKED`` bytes in all, or whose large part is compressed more than
  ``MAX_RATIO`` times (real sheets compress 5 to 20 times; a bomb of repeated bytes about
  1,000 times), is refused. ``zipfile`` never unpacks more than a part's declared size, so
  the declared sizes bound what any reader can get out of the file.
* :func:`refuse_large_ods` streams an OpenDocument ``content.xml`` and adds up its repeated rows
  and columns as calamine would lay them out, so that a sheet that declares a million rows is
  refused before calamine expands it in memory (trailing empty rows, which LibreOffice writes
  and calamine drops, are not counted).
* :func:`entity_error` names the refusal of an XML entity or DTD (the "billion laughs"):
  openpyxl parses with defusedxml when it is installed, as it is with relimport.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import IO, cast
from xml.etree.ElementTree import Element, ParseError, XMLPullParser

from defusedxml import DefusedXmlException  # type: ignore[import-untyped]

from importer.errors import InputError

#: The most a workbook's parts may unpack to, in all.
MAX_UNPACKED = 1_000_000_000
#: The most a part larger than ``_RATIO_FROM`` bytes unpacked may be compressed.
MAX_RATIO = 200
_RATIO_FROM = 1_000_000
#: The most parts a workbook may have.
MAX_PARTS = 10_000
_CHUNK = 1 << 16
_TABLE = "{urn:oasis:names:tc:opendocument:xmlns:table:1.0}"
_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
_SAVE_AS = "Open it in your spreadsheet program and save it as .xlsx or as CSV UTF-8 (.csv)"


def refuse_zip_bomb(path: Path, archive: zipfile.ZipFile) -> None:
    """Raise InputError if the zip's parts would unpack to too much, or unpack suspiciously."""
    parts = archive.infolist()
    if len(parts) > MAX_PARTS:
        raise InputError(
            f"{path.name} holds {len(parts):,} parts, more than the {MAX_PARTS:,} a workbook "
            f"has; it is not read. {_SAVE_AS}."
        )
    total = sum(part.file_size for part in parts)
    if total > MAX_UNPACKED:
        raise InputError(
            f"{path.name} would unpack to {total / 1e6:,.0f} MB, more than the "
            f"{MAX_UNPACKED / 1e6:,.0f} MB relimport reads from a workbook; it is not read. "
            f"If the file is genuine, save it as CSV UTF-8 (.csv), which is read as a stream."
        )
    for part in parts:
        if part.file_size > _RATIO_FROM and part.file_size > MAX_RATIO * part.compress_size:
            raise InputError(
                f"{path.name}: its part {part.filename!r} is compressed "
                f"{part.file_size / max(part.compress_size, 1):,.0f} times (from "
                f"{part.file_size / 1e6:,.0f} MB), far more than a real spreadsheet, so it "
                f"looks like a zip bomb and is not read. {_SAVE_AS}."
            )


def entity_error(path: Path, error: BaseException) -> InputError | None:
    """The InputError for an XML part refused for declaring entities or a DTD, else None
    (openpyxl may wrap the refusal in an error of its own)."""
    cause: BaseException | None = error
    while cause is not None and not isinstance(cause, DefusedXmlException):
        cause = cause.__cause__ or cause.__context__
    if cause is None:
        return None
    error = cause
    return InputError(
        f"{path.name} contains XML that declares entities or a document type ({error}), "
        "which a spreadsheet program never writes and which can make a reader use all memory "
        f"(an 'XML bomb'); it is not read. {_SAVE_AS}."
    )


def refuse_large_ods(path: Path, max_rows: int, max_columns: int) -> None:
    """Raise InputError if an .ods sheet's rows or columns, repeats counted, exceed the limits.

    Other kinds of file (.xls, .xlsb: no zip, or an .xlsx renamed) pass unchecked.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            refuse_zip_bomb(path, archive)
            if "content.xml" not in archive.namelist():
                return
            with archive.open("content.xml") as content:
                _count_ods(path, content, max_rows, max_columns)
    except (zipfile.BadZipFile, OSError, EOFError):
        return  # calamine reports a damaged file in its own words


def _count_ods(path: Path, content: IO[bytes], max_rows: int, max_columns: int) -> None:
    parser: XMLPullParser[Element] = XMLPullParser(events=("start", "end"))
    table = ""
    rows = columns = empty_rows = 0
    row_repeat = row_width = empty_cells = 0
    row_filled = False
    try:
        while chunk := content.read(_CHUNK):
            if b"<!ENTITY" in chunk or b"<!DOCTYPE" in chunk:
                raise InputError(
                    f"{path.name} contains XML that declares entities or a document type, which "
                    f"a spreadsheet program never writes; it is not read. {_SAVE_AS}."
                )
            parser.feed(chunk)
            for pair in parser.read_events():
                event, element = cast(tuple[str, Element], pair)  # as start and end events are
                tag = element.tag
                if event == "start" and tag == f"{_TABLE}table":
                    table = element.get(f"{_TABLE}name", "")
                    rows = columns = empty_rows = 0
                elif event == "start" and tag == f"{_TABLE}table-row":
                    row_repeat = int(element.get(f"{_TABLE}number-rows-repeated", "1"))
                    row_width = empty_cells = 0
                    row_filled = False
                elif event == "end" and tag in (
                    f"{_TABLE}table-cell",
                    f"{_TABLE}covered-table-cell",
                ):
                    repeat = int(element.get(f"{_TABLE}number-columns-repeated", "1"))
                    if element.get(f"{_OFFICE}value-type") or len(element):
                        row_width += empty_cells + repeat
                        empty_cells = 0
                        row_filled = True
                    else:
                        empty_cells += repeat
                    element.clear()
                elif event == "end" and tag == f"{_TABLE}table-row":
                    if row_filled:
                        rows += empty_rows + row_repeat
                        empty_rows = 0
                        columns = max(columns, row_width)
                    else:
                        empty_rows += row_repeat
                    element.clear()
                    if rows > max_rows or columns > max_columns:
                        raise InputError(
                            f"{path.name}, sheet {table!r}: the sheet has more than "
                            f"{max_rows:,} rows or {max_columns:,} columns, more than relimport "
                            f"reads from {path.suffix} files, which it must hold in memory. "
                            "Open it in your spreadsheet program and save it as .xlsx or .csv "
                            "to read files this big."
                        )
    except (ParseError, ValueError):
        return  # calamine reports a damaged file in its own words
