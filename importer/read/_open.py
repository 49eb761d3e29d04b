"""Read a CSV or Excel file as a header and a stream of rows: the first stage of a run.

``open_table(path)`` opens the file, finds the header and hands back a :class:`Table` whose
``rows`` yield one :class:`~importer.models.SourceRow` per data row: text only, stripped, as wide
as the header, numbered as a spreadsheet program numbers its rows. Nothing is kept per row, so
memory does not grow with the file::

    with open_table(Path("relations.csv")) as table:
        print(table.header)
        for row in table.rows:
            ...

A file that cannot be used as a whole raises :class:`~importer.errors.InputError`, whose
message names the file, the line or row, what is wrong and what to do. A problem in one row
(too few or too many cells) is an :class:`~importer.models.Issue` on that row.

The formats live beside this module: ``reader_csv`` (the standard library's ``csv``),
``reader_xlsx`` (openpyxl, imported only when an Excel file is read: it is slow to import) and
``reader_sheets`` (.xls, .xlsb and .ods through pandas and calamine, imported likewise).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import replace
from pathlib import Path

from importer.errors import InputError
from importer.read._header import HeaderRule, letters
from importer.read._table import Table

__all__ = [
    "CSV_SUFFIXES",
    "SHEET_SUFFIXES",
    "XLSX_SUFFIXES",
    "HeaderRule",
    "Table",
    "letters",
    "open_table",
]

CSV_SUFFIXES = (".csv", ".tsv", ".txt")
XLSX_SUFFIXES = (".xlsx", ".xlsm")
SHEET_SUFFIXES = (".xls", ".xlsb", ".ods")
_NOT_YET = {
    ".numbers": "an Apple Numbers spreadsheet",
}


@contextmanager
def open_table(
    path: Path,
    *,
    sheet: str | None = None,
    encoding: str | None = None,
    header: HeaderRule | None = None,
) -> Iterator[Table]:
    """Open a .csv/.tsv/.txt, .xlsx/.xlsm, .xls/.xlsb or .ods file; close it on exit.

    ``sheet`` picks an Excel sheet by name (default: the first sheet). ``encoding`` overrides
    the detection of a CSV file's encoding. Either one given for the other kind of file is
    ignored, with a notice. ``header`` says where the header is (default: the first row with
    a value). Raises :class:`InputError` for a file that cannot be used.
    """
    path = Path(path)
    rule = header or HeaderRule()
    suffix = _check_file(path)
    ignored: list[str] = []
    opener: AbstractContextManager[Table]
    if suffix in XLSX_SUFFIXES:
        from importer.read.xlsx import open_xlsx

        if encoding is not None:
            ignored.append(f"{path.name} is an Excel file: the encoding {encoding!r} is ignored.")
        opener = open_xlsx(path, sheet=sheet, header=rule)
    elif suffix in SHEET_SUFFIXES:
        from importer.read.sheets import open_sheet

        if encoding is not None:
            ignored.append(f"{path.name} is a spreadsheet: the encoding {encoding!r} is ignored.")
        opener = open_sheet(path, sheet=sheet, header=rule)
    else:
        from importer.read.delimited import open_csv

        if sheet is not None:
            ignored.append(
                f"{path.name} is a text file, which has no sheets: the sheet {sheet!r} is ignored."
            )
        opener = open_csv(path, encoding=encoding, header=rule)
    with opener as table:
        yield replace(table, notices=(*ignored, *table.notices)) if ignored else table


def _check_file(path: Path) -> str:
    """Return the file's lower-case suffix once it is known to be a readable kind of file."""
    if not path.exists():
        raise InputError(f"{path}: there is no such file. Check the file name and the folder.")
    if path.is_dir():
        raise InputError(f"{path} is a folder, not a file. Give the path of a CSV or Excel file.")
    suffix = path.suffix.lower()
    if path.name.startswith("~$") and suffix in (*XLSX_SUFFIXES, ".xls", ".xlsb"):
        raise InputError(
            f"{path.name} is the lock file Excel keeps beside a workbook while it is open (here "
            f"{path.name[2:]}), not a workbook. Import {path.with_name(path.name[2:])} instead; "
            "save it and close it in Excel first if it has changes."
        )
    if suffix in (*CSV_SUFFIXES, *XLSX_SUFFIXES, *SHEET_SUFFIXES):
        return suffix
    supported = ", ".join((*CSV_SUFFIXES, *XLSX_SUFFIXES, *SHEET_SUFFIXES))
    if suffix in _NOT_YET:
        raise InputError(
            f"{path.name} is {_NOT_YET[suffix]} ({suffix}), which is not supported yet. "
            "Open it in your spreadsheet program and save it as .xlsx or as CSV UTF-8 (.csv)."
        )
    what = f"files ending in {suffix}" if suffix else "files without an extension"
    raise InputError(
        f"{path.name}: relimport cannot read {what}. It reads {supported}: "
        "save the data as .xlsx or as CSV UTF-8 (.csv)."
    )
