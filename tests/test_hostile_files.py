"""Hostile spreadsheets and text files (issue 6, part 2): each is built by hand in tmp_path and
gives either a clear InputError naming the file or a complete read, in bounded memory and time.

The XLSX files are written part by part with zipfile (openpyxl would not write a lying
dimension, a formula with a saved value or a DTD); the .ods ones likewise.
"""

from __future__ import annotations

import random
import time
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from importer.errors import InputError
from importer.models import Issue, SourceRow
from importer.read import Table, open_table
from importer.read.delimited import LINE_LIMIT
from importer.read.sheets import open_sheet
from importer.read.xlsx import open_xlsx
from tests.spreadsheets import (
    BOMB_DTD,
    MAIN,
    TABLE,
    ods_row,
    sheet_xml,
    write_ods,
    write_xlsx,
)

assert open_sheet and open_xlsx  # imported here, so that no test measures importing them

ROWS = [SourceRow(2, ("a1", "b1")), SourceRow(3, ("a2", "b2"))]


def read(path: Path) -> tuple[Table, list[SourceRow]]:
    with open_table(path) as table:
        return table, list(table.rows)


@contextmanager
def bounded(seconds: float = 1.5, megabytes: float = 50) -> Iterator[None]:
    """Assert that the block takes less than ``seconds`` and allocates less than ``megabytes``
    at its peak (Python allocations, as tracemalloc sees them)."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        yield
    finally:
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert elapsed < seconds
    assert peak < megabytes * 1e6


# ------------------------------------------------------------------------------------- xlsx


def test_a_dimension_claiming_the_whole_sheet_is_not_trusted(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path, sheet_xml(TABLE, dimension="A1:XFD1048576"))
    with bounded(seconds=0.5, megabytes=10):
        table, rows = read(path)
    assert (table.header, rows) == (("first_id", "second_id"), ROWS)


def test_a_stray_cell_on_the_last_row_costs_nothing(tmp_path: Path) -> None:
    # Far right and far down: ignored (beyond the columns read); in a column read: reported.
    stray = (
        '<row r="1048575"><c r="XFD1048575" t="inlineStr"><is><t>far</t></is></c></row>'
        '<row r="1048576"><c r="C1048576" t="inlineStr"><is><t>below</t></is></c></row>'
    )
    path = write_xlsx(tmp_path, sheet_xml(TABLE + stray, dimension="A1:XFD1048576"))
    with bounded(seconds=0.5, megabytes=10):
        rows = read(path)[1]
    assert rows == [
        *ROWS,
        SourceRow(
            1048576,
            ("", ""),
            (
                Issue(
                    "long_row",
                    "the row has a value in column C ('below'), right of the header's last "
                    "column (B); it is ignored",
                ),
            ),
        ),
    ]


def test_rows_after_a_long_gap_are_read(tmp_path: Path) -> None:
    late = '<row r="900000"><c r="A900000" t="inlineStr"><is><t>late</t></is></c></row>'
    path = write_xlsx(tmp_path, sheet_xml(TABLE + late))
    with bounded(seconds=0.5, megabytes=10):
        rows = read(path)[1]
    assert rows == [*ROWS, SourceRow(900000, ("late", ""))]


def test_a_zip_bomb_is_refused_unread(tmp_path: Path) -> None:
    def bomb(archive: zipfile.ZipFile) -> None:
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as part:
            part.write(sheet_xml(TABLE).replace("</sheetData>", "").encode())
            chunk = b" " * (1 << 20)
            for _ in range(120):  # 120 MiB of spaces: some 120 KB compressed
                part.write(chunk)
            part.write(b"</sheetData></worksheet>")

    path = write_xlsx(tmp_path, bomb)
    with bounded(seconds=0.5, megabytes=10), pytest.raises(InputError) as caught:
        read(path)
    assert str(caught.value).startswith(
        "in.xlsx: its part 'xl/worksheets/sheet1.xml' is compressed 1,0"
    )
    assert str(caught.value).endswith(
        " times (from 126 MB), far more than a real spreadsheet, so it looks like a zip bomb "
        "and is not read. Open it in your spreadsheet program and save it as .xlsx or as CSV "
        "UTF-8 (.csv)."
    )


@pytest.mark.parametrize("part", ["sheet", "shared strings"])
def test_an_xml_entity_bomb_is_refused_unexpanded(tmp_path: Path, part: str) -> None:
    if part == "sheet":
        rows = TABLE + '<row r="4"><c r="A4" t="inlineStr"><is><t>&lol9;</t></is></c></row>'
        path = write_xlsx(tmp_path, sheet_xml(rows, prolog=BOMB_DTD))
    else:
        strings = (
            BOMB_DTD.replace("?>", "?>", 1)
            + f'<sst xmlns="{MAIN}" count="1"><si><t>&lol9;</t></si></sst>'
        )
        path = write_xlsx(tmp_path, sheet_xml(TABLE), strings=strings)
    with bounded(seconds=0.5, megabytes=10), pytest.raises(InputError) as caught:
        read(path)
    assert str(caught.value) == (
        "in.xlsx contains XML that declares entities or a document type "
        "(EntitiesForbidden(name='lol', system_id=None, public_id=None)), which a spreadsheet "
        "program never writes and which can make a reader use all memory (an 'XML bomb'); it "
        "is not read. Open it in your spreadsheet program and save it as .xlsx or as CSV UTF-8 "
        "(.csv)."
    )


def test_a_password_protected_workbook_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "secret.xlsx"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(range(256)) * 8)
    with pytest.raises(InputError) as caught:
        read(path)
    assert str(caught.value) == (
        "secret.xlsx is password-protected, or is an old Excel (.xls) file renamed. Remove the "
        "password (in Excel: File > Info > Protect Workbook > Encrypt with Password, and clear "
        "it), or save it as .xlsx, then import it again."
    )


def test_a_formula_gives_its_saved_value(tmp_path: Path) -> None:
    rows = TABLE + (
        '<row r="4"><c r="A4" t="str"><f>CONCAT("a","b")</f><v>ab</v></c>'
        '<c r="B4"><f>1+1</f><v>2</v></c></row>'
    )
    table, read_rows = read(write_xlsx(tmp_path, sheet_xml(rows)))
    assert read_rows[-1] == SourceRow(4, ("ab", "2"), numeric=frozenset({1}))
    assert table.notices == ()


def test_a_formula_without_a_saved_value_reads_as_empty_with_a_notice(tmp_path: Path) -> None:
    rows = TABLE + (
        '<row r="4"><c r="A4" t="str"><f>CONCAT("a","b")</f></c>'
        '<c r="B4" t="inlineStr"><is><t>b3</t></is></c></row>'
    )
    table, read_rows = read(write_xlsx(tmp_path, sheet_xml(rows)))
    # The validator reports the blank id; the notice says why it is blank.
    assert read_rows[-1] == SourceRow(4, ("", "b3"))
    assert table.notices == (
        "in.xlsx: cells hold formulas without a saved value (the first is A4), so they read as "
        "empty: the file was written by a program that does not calculate formulas. Open it in "
        "Excel or LibreOffice and save it again to read their values.",
    )


# -------------------------------------------------------------------------------------- csv


def _xlsx_bytes(tmp_path: Path) -> bytes:
    return write_xlsx(tmp_path, sheet_xml(TABLE), name="real.xlsx").read_bytes()


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        pytest.param(
            lambda _: random.Random(6).randbytes(4096) + b"\0",
            "in.csv, line ",
            id="random bytes",
        ),
        pytest.param(
            lambda _: b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(64),
            "in.csv, line 3: the file contains NUL bytes, so it looks like a binary file rather "
            "than text.",
            id="png",
        ),
        pytest.param(
            _xlsx_bytes,
            "in.csv is not a text file: it looks like an Excel workbook or another zip archive. "
            "If it is an Excel file, rename it to .xlsx.",
            id="xlsx renamed",
        ),
    ],
)
def test_a_binary_file_named_csv_is_refused(
    tmp_path: Path, make: Callable[[Path], bytes], expected: str
) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(make(tmp_path))
    with pytest.raises(InputError) as caught:
        read(path)
    assert str(caught.value).startswith(expected)


def test_a_huge_single_line_is_refused_without_reading_it_whole(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    with path.open("wb") as file:
        file.write(b"id,name\n")
        chunk = b"x," * (1 << 19)
        for _ in range(50):  # a 50 MiB second line, with no line break
            file.write(chunk)
    with bounded(seconds=1.5, megabytes=5), pytest.raises(InputError) as caught:
        read(path)
    assert path.stat().st_size > LINE_LIMIT
    assert str(caught.value) == (
        "in.csv, line 2: the line is longer than 32 MiB of text, far more than a row of a "
        "table, so the file is not read. Check that it is the CSV file meant, with one row per "
        "line; a cell this long is not accepted."
    )


# -------------------------------------------------------------------------------------- ods

EMPTY_ROWS = (
    '<table:table-row table:number-rows-repeated="1048570">'
    '<table:table-cell table:number-columns-repeated="{}"/></table:table-row>'
)


@pytest.mark.parametrize("columns", ["1", "16384"])
def test_an_ods_declaring_a_million_rows_is_refused_before_calamine(
    tmp_path: Path, columns: str
) -> None:
    rows = ods_row("id") + ods_row("a") + EMPTY_ROWS.format(columns) + ods_row("z")
    path = write_ods(tmp_path, rows)
    with bounded(seconds=1.0, megabytes=20), pytest.raises(InputError) as caught:
        read(path)
    assert str(caught.value) == (
        "in.ods, sheet 'S': the sheet has more than 1,000,000 rows or 1,000 columns, more than "
        "relimport reads from .ods files, which it must hold in memory. Open it in your "
        "spreadsheet program and save it as .xlsx or .csv to read files this big."
    )


def test_an_ods_ending_in_repeated_empty_rows_is_read(tmp_path: Path) -> None:
    # LibreOffice writes such rows after the data; calamine drops them.
    path = write_ods(tmp_path, ods_row("id") + ods_row("a") + EMPTY_ROWS.format("1024"))
    with bounded(seconds=1.0, megabytes=20):
        rows = read(path)[1]
    assert rows == [SourceRow(2, ("a",))]


def test_an_ods_entity_bomb_is_refused(tmp_path: Path) -> None:
    path = write_ods(tmp_path, ods_row("id") + ods_row("&lol9;"), prolog=BOMB_DTD)
    with bounded(seconds=1.0, megabytes=20), pytest.raises(InputError) as caught:
        read(path)
    assert str(caught.value) == (
        "in.ods contains XML that declares entities or a document type, which a spreadsheet "
        "program never writes; it is not read. Open it in your spreadsheet program and save it "
        "as .xlsx or as CSV UTF-8 (.csv)."
    )
