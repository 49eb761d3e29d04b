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

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TypeVar

from importer.errors import InputError
from importer.reader_table import Table, quote

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

#: Stripped from both ends of every cell: what ``str.isspace`` calls whitespace (including the
#: non-breaking space U+00A0), plus the byte-order mark and the zero-width space that copy and
#: paste leave behind. A test checks the first part against ``str.isspace``.
#: Rows below the first one looked at for the configured columns when they are not in it.
LOOKAHEAD = 10
_Raw = TypeVar("_Raw")


@dataclass(frozen=True)
class HeaderRule:
    """Where the header is: ``row`` (1-based, as a spreadsheet shows it: ``--header-row``),
    none at all (``absent``: ``--no-header``, columns named by letter), or the first row with
    a value, unless ``fits`` says the configured columns are not in it and are in one of the
    next :data:`LOOKAHEAD` rows (a title line above the header): then that row, with a notice.
    """

    row: int | None = None
    absent: bool = False
    fits: Callable[[Sequence[str]], bool] | None = None


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
        from importer.reader_xlsx import open_xlsx

        if encoding is not None:
            ignored.append(f"{path.name} is an Excel file: the encoding {encoding!r} is ignored.")
        opener = open_xlsx(path, sheet=sheet, header=rule)
    elif suffix in SHEET_SUFFIXES:
        from importer.reader_sheets import open_sheet

        if encoding is not None:
            ignored.append(f"{path.name} is a spreadsheet: the encoding {encoding!r} is ignored.")
        opener = open_sheet(path, sheet=sheet, header=rule)
    else:
        from importer.reader_csv import open_csv

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


def letters(position: int) -> str:
    """A column's letters as a spreadsheet shows them: 1 is A, 27 is AA."""
    text = ""
    while position:
        position, rest = divmod(position - 1, 26)
        text = chr(ord("A") + rest) + text
    return text


def find_header(
    where: str,
    rows: Iterator[tuple[int, _Raw]],
    text: Callable[[_Raw], list[str]],
    rule: HeaderRule,
    empty: str = "the file is empty",
) -> tuple[int, list[str], list[tuple[int, _Raw]], tuple[str, ...]]:
    """The header's row number (0 when there is none), its cells as text, the rows read past
    it (to be read as data, in order) and a notice, as ``rule`` says. ``rows`` are the file's
    (number, raw row) in order; ``text`` gives a raw row's stripped cells."""
    if rule.row is not None:
        return (*_header_at(where, rows, text, rule.row), [], ())
    first: tuple[int, list[str]] | None = None
    after: list[tuple[int, _Raw]] = []
    looked = 0
    for number, raw in rows:
        if first is None:
            cells = text(raw)
            if not any(cells):
                continue
            first = number, cells
            if rule.absent:
                after.append((number, raw))
            elif rule.fits is None or rule.fits(cells):
                return number, cells, [], ()
            continue
        after.append((number, raw))
        cells = text(raw)
        if not any(cells):
            continue
        looked += 1
        if rule.fits is not None and not rule.absent and rule.fits(cells):
            index = len(after)
            notice = (
                f"the columns are in row {number}, not in row {first[0]} (which holds "
                f"{quote(next(c for c in first[1] if c))}): row {number} is read as the header "
                f"and the rows above it are skipped. To say so, give --header-row {number}.",
            )
            return number, cells, after[index:], notice
        if looked >= LOOKAHEAD:
            break
    if first is None:
        raise InputError(f"{where}: {empty}. Put a header row and data in it.")
    if rule.absent:
        width = max((len(_trimmed(text(raw))) for _, raw in after), default=1)
        return 0, [letters(n) for n in range(1, width + 1)], after, ()
    return first[0], first[1], after, ()


def _trimmed(cells: list[str]) -> list[str]:
    width = len(cells)
    while width and not cells[width - 1]:
        width -= 1
    return cells[:width]


def _header_at(
    where: str, rows: Iterable[tuple[int, _Raw]], text: Callable[[_Raw], list[str]], wanted: int
) -> tuple[int, list[str]]:
    """Row ``wanted`` (``--header-row``) as the header: InputError if it is missing or blank."""
    last = 0
    for number, raw in rows:
        last = number
        if number < wanted:
            continue
        cells = text(raw) if number == wanted else []
        if any(cells):
            return number, cells
        break
    if last < wanted:
        raise InputError(
            f"{where}: there is no row {wanted} (--header-row): the file ends at row {last}. "
            "Give the number of the header's row as your spreadsheet program shows it."
        )
    raise InputError(
        f"{where}: row {wanted} (--header-row) is empty. Give the number of the header's row "
        "as your spreadsheet program shows it."
    )
