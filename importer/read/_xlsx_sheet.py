"""The rows of an .xlsx sheet as they are in the file, through openpyxl's sheet parser.

openpyxl's ``iter_rows`` yields an empty row for every row missing from the file (a million
for one stray cell on the last row) and, in data-only mode, cannot tell a formula without a
saved value from an empty cell. :func:`sheet_rows` drives openpyxl's own parser instead (with
the arguments ``ReadOnlyWorksheet`` gives it; openpyxl is pinned and the tests cover this), so
that gaps cost nothing and such a formula reads as :data:`UNSAVED`.

:func:`open_workbook` is openpyxl's ``load_workbook(read_only=True, data_only=True)`` without
the size of every sheet that openpyxl computes on opening and relimport never uses: a sheet
that records no dimension (openpyxl and LibreOffice write none) is parsed whole to find it,
which was almost half the time of reading such a sheet.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from openpyxl.reader.excel import ExcelReader
from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet._read_only import ReadOnlyWorksheet
from openpyxl.worksheet._reader import FORMULA_TAG, INLINE_STRING, ROW_TAG, WorkSheetParser
from openpyxl.xml.constants import SHEET_MAIN_NS
from openpyxl.xml.functions import iterparse

__all__ = ["UNSAVED", "Row", "open_workbook", "sheet_rows"]

#: A row as the parser gives it: its number and its cells (openpyxl's dicts).
Row = tuple[int, list[dict[str, Any]]]


class _Unsaved:
    """The value of a formula cell that holds no saved value: it reads as an empty cell."""

    def __str__(self) -> str:
        return ""

    def __repr__(self) -> str:
        return "UNSAVED"


UNSAVED = _Unsaved()
_TEXT_TAG = f"{{{SHEET_MAIN_NS}}}t"
_DATA_TAG = f"{{{SHEET_MAIN_NS}}}sheetData"


class _CellParser(WorkSheetParser):
    """openpyxl's sheet parser, telling a formula without a saved value from an empty cell,
    and reading plain inline text (``<is><t>text</t></is>``: how openpyxl and pandas write
    every string) without openpyxl's rich-text objects, which cost most of a cell's time."""

    def parse(self) -> Generator[Row]:
        """The rows, each dropped once read, so that memory does not grow with the sheet:
        openpyxl's ``parse`` empties each row but keeps it in the tree, and keeps the
        attributes of every row with a height or a style, and it reads the sheet's settings,
        which relimport never uses. The same parser as openpyxl's (defusedxml's)."""
        rows: Any = None  # <sheetData>, once it starts
        for event, element in iterparse(self.source, events=("start", "end")):
            if event == "start":
                if element.tag == _DATA_TAG:
                    rows = element
            elif element.tag == ROW_TAG:
                row = self.parse_row(element)
                if rows is not None:
                    rows.clear()  # the row just read is its only element
                self.row_dimensions.clear()
                yield row

    def parse_cell(self, element: Any) -> dict[str, Any]:
        inline = element.find(INLINE_STRING) if element.get("t") == "inlineStr" else None
        if inline is not None and len(inline) == 1 and inline[0].tag == _TEXT_TAG:
            element.remove(inline)  # openpyxl then reads the cell as having no text
            cell = super().parse_cell(element)
            cell["value"], cell["data_type"] = inline[0].text or "", "s"  # as Text.content
            return cell
        cell = super().parse_cell(element)
        if cell["value"] is None and element.find(FORMULA_TAG) is not None:
            cell["value"] = UNSAVED
        return cell


def sheet_rows(workbook: Workbook, worksheet: ReadOnlyWorksheet) -> Generator[Row]:
    """The sheet's rows that are in the file, with their numbers, as openpyxl parses them.

    Unlike ``iter_rows``, a gap between rows costs nothing (openpyxl yields one empty row per
    missing row: a million for a stray cell on the last row) and the recorded dimension is
    never read. Rows out of order (which Excel never writes) are skipped, as openpyxl does.
    """
    with worksheet._get_source() as source:  # type: ignore[attr-defined]
        parser = _CellParser(
            source,
            worksheet._shared_strings,  # type: ignore[attr-defined]
            data_only=True,
            epoch=workbook.epoch,
            date_formats=workbook._date_formats,  # type: ignore[attr-defined]
            timedelta_formats=workbook._timedelta_formats,  # type: ignore[attr-defined]
        )
        last = 0
        for number, cells in parser.parse():
            if number > last:
                last = number
                yield number, cells


class _Unsized(ReadOnlyWorksheet):
    """A read-only sheet that does not compute its size (:func:`sheet_rows` never asks)."""

    def _get_size(self) -> None:
        return None


class _Reader(ExcelReader):
    """openpyxl's reader, making read-only sheets that do not compute their size."""

    def read_worksheets(self) -> None:
        """What openpyxl's ``read_worksheets`` does in read-only mode (openpyxl 3.1)."""
        for sheet, rel in self.parser.find_sheets():
            if rel.target not in self.valid_files:
                continue
            if "chartsheet" in rel.Type:
                self.read_chartsheet(sheet, rel)  # type: ignore[arg-type]
                continue
            worksheet = _Unsized(self.wb, sheet.name, rel.target, self.shared_strings)
            worksheet.sheet_state = sheet.state or "visible"
            self.wb._sheets.append(worksheet)  # type: ignore[attr-defined]


def open_workbook(source: Any) -> Workbook:
    """``load_workbook(source, read_only=True, data_only=True, keep_links=False)``, whose
    sheets do not compute their size on opening."""
    reader = _Reader(source, read_only=True, data_only=True, keep_links=False)
    reader.read()
    return reader.wb
