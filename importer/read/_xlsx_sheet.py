"""The rows of an .xlsx sheet as they are in the file, through openpyxl's sheet parser.

openpyxl's ``iter_rows`` yields an empty row for every row missing from the file (a million
for one stray cell on the last row) and, in data-only mode, cannot tell a formula without a
saved value from an empty cell. :func:`sheet_rows` drives openpyxl's own parser instead (with
the arguments ``ReadOnlyWorksheet`` gives it; openpyxl is pinned and the tests cover this), so
that gaps cost nothing and such a formula reads as :data:`UNSAVED`.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

from openpyxl.workbook.workbook import Workbook
from openpyxl.worksheet._read_only import ReadOnlyWorksheet
from openpyxl.worksheet._reader import FORMULA_TAG, WorkSheetParser

__all__ = ["UNSAVED", "Row", "sheet_rows"]

#: A row as the parser gives it: its number and its cells (openpyxl's dicts).
Row = tuple[int, list[dict[str, Any]]]


class _Unsaved:
    """The value of a formula cell that holds no saved value: it reads as an empty cell."""

    def __str__(self) -> str:
        return ""

    def __repr__(self) -> str:
        return "UNSAVED"


UNSAVED = _Unsaved()


class _CellParser(WorkSheetParser):
    """openpyxl's sheet parser, telling a formula without a saved value from an empty cell."""

    def parse_cell(self, element: Any) -> dict[str, Any]:
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
