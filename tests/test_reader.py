"""Tests of importer.read: CSV and XLSX files built in tmp_path, read back as a Table."""

from __future__ import annotations

import codecs
import csv
import io
import os
import sys
import tracemalloc
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from openpyxl.cell.rich_text import CellRichText, TextBlock
from openpyxl.cell.text import InlineFont
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Font

from importer.errors import InputError
from importer.models import Issue, SourceRow
from importer.read import BLANK, Table, open_table
from importer.read.delimited import DELIMITERS, FIELD_LIMIT
from importer.read.xlsx import MARGIN


def write(tmp_path: Path, name: str, data: bytes | str) -> Path:
    path = tmp_path / name
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def read(path: Path, **options: Any) -> tuple[Table, list[SourceRow]]:
    with open_table(path, **options) as table:
        return table, list(table.rows)


def cells_of(rows: list[SourceRow]) -> list[tuple[str, ...]]:
    return [row.cells for row in rows]


def write_xlsx(
    tmp_path: Path, fill: Callable[[openpyxl.Workbook], object], name: str = "in.xlsx"
) -> Path:
    workbook = openpyxl.Workbook()
    fill(workbook)
    path = tmp_path / name
    workbook.save(path)
    return path


def test_blank_is_what_str_isspace_calls_whitespace_plus_zero_width_characters() -> None:
    spaces = "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace())
    assert spaces + "\ufeff\u200b" == BLANK


# ---------------------------------------------------------------------------------- encodings

TEXT = "id,name\r\n1,Zoë Ångström\r\n"


@pytest.mark.parametrize(
    ("data", "options", "encoding", "notices"),
    [
        pytest.param(TEXT.encode("utf-8"), {}, "utf-8", (), id="utf-8"),
        pytest.param(TEXT.encode("utf-8-sig"), {}, "utf-8-sig", (), id="utf-8 bom"),
        pytest.param(TEXT.encode("utf-16"), {}, "utf-16", (), id="utf-16 bom"),
        pytest.param(
            codecs.BOM_UTF16_BE + TEXT.encode("utf-16-be"), {}, "utf-16", (), id="utf-16-be bom"
        ),
        pytest.param(TEXT.encode("utf-32"), {}, "utf-32", (), id="utf-32 bom"),
        pytest.param(
            TEXT.encode("cp1252"),
            {},
            "cp1252",
            (
                "in.csv is not UTF-8 (first on line 2): it was read as Windows-1252, the usual "
                "encoding of Excel on Windows. If some letters look wrong, save the file as "
                "CSV UTF-8 and import it again.",
            ),
            id="cp1252 fallback",
        ),
        pytest.param(TEXT.encode("latin-1"), {"encoding": "latin-1"}, "iso8859-1", (), id="given"),
        pytest.param(
            TEXT.encode("utf-16-le"), {"encoding": "UTF-16-LE"}, "utf-16-le", (), id="given utf-16"
        ),
        pytest.param(
            TEXT.encode("utf-8-sig"), {"encoding": "utf8"}, "utf-8-sig", (), id="given utf-8, bom"
        ),
    ],
)
def test_encoding(
    tmp_path: Path, data: bytes, options: dict[str, str], encoding: str, notices: tuple[str, ...]
) -> None:
    table, rows = read(write(tmp_path, "in.csv", data), **options)
    assert (table.kind, table.encoding, table.notices) == ("csv", encoding, notices)
    assert (table.header, table.header_row, table.delimiter) == (("id", "name"), 1, ",")
    assert rows == [SourceRow(2, ("1", "Zoë Ångström"))]


def test_non_utf8_byte_far_into_the_file_is_found_by_line(tmp_path: Path) -> None:
    data = "id,name\n" + "1,ok\n" * 20_000 + "2,café\n"  # past the first 64 KiB chunk
    table, rows = read(write(tmp_path, "in.csv", data.encode("cp1252")))
    assert table.encoding == "cp1252"
    assert "first on line 20002" in table.notices[0]
    assert rows[-1] == SourceRow(20002, ("2", "café"))


# --------------------------------------------------------------------------------- delimiters


@pytest.mark.parametrize(
    ("name", "data", "delimiter", "header", "row"),
    [
        ("in.csv", "a,b,c\n1,2,3\n", ",", ("a", "b", "c"), ("1", "2", "3")),
        ("in.csv", "a;b;c\n1,5;2;3\n", ";", ("a", "b", "c"), ("1,5", "2", "3")),
        ("in.txt", "a\tb\tc\n1\t2\t3\n", "\t", ("a", "b", "c"), ("1", "2", "3")),
        ("in.csv", "a|b|c\n1|2|3\n", "|", ("a", "b", "c"), ("1", "2", "3")),
        ("in.csv", '"a,b";"c,d";e\n1;2;3\n', ";", ("a,b", "c,d", "e"), ("1", "2", "3")),
        ("in.csv", '"x;y;z",b\n1,2\n', ",", ("x;y;z", "b"), ("1", "2")),
        ("in.csv", "id\n1,5\n", ",", ("id",), ("1",)),  # one column: the usual comma
        ("in.tsv", "id\n1,5\n", "\t", ("id",), ("1,5",)),  # ... or tab for .tsv
        ("in.tsv", "a,b\tc\n1,2\t3\n", "\t", ("a,b", "c"), ("1,2", "3")),  # a tie: tab for .tsv
        ("in.csv", "a,b\tc\n1,2\t3\n", ",", ("a", "b\tc"), ("1", "2\t3")),  # ... comma for .csv
        ("in.csv", '"a\nb";c\n1;2\n', ";", ("a\nb", "c"), ("1", "2")),  # header over 2 lines
    ],
)
def test_delimiter(
    tmp_path: Path,
    name: str,
    data: str,
    delimiter: str,
    header: tuple[str, ...],
    row: tuple[str, ...],
) -> None:
    table, rows = read(write(tmp_path, name, data))
    assert (table.delimiter, table.header, cells_of(rows)[0]) == (delimiter, header, row)


# ------------------------------------------------------------------------------- row numbers


@pytest.mark.parametrize(
    ("data", "header_row", "numbers"),
    [
        ("a,b\n1,2\n3,4\n", 1, [2, 3]),
        ("a,b\r\n1,2\r\n\r\n3,4\r\n", 1, [2, 4]),  # a blank line is a row, never yielded
        ("\n\na,b\n1,2\n", 3, [4]),  # leading blank rows
        (",,\n ; \na,b\n1,2\n", 3, [4]),  # ... made of delimiters and spaces
        ('a,b\n"x\ny",2\n3,4\n', 1, [2, 3]),  # a multi-line cell is one row
        ('a,b\n"x\r\n\r\ny",2\n3,4\n', 1, [2, 3]),
        ("a,b\n , \n,\n1,2", 1, [4]),  # blank after stripping; no final newline
        ("a,b\n1,2\n\n\n", 1, [2]),
        ("a,b\r1,2\r3,4\r", 1, [2, 3]),  # old Mac line ends
    ],
)
def test_row_numbers_are_the_spreadsheets(
    tmp_path: Path, data: str, header_row: int, numbers: list[int]
) -> None:
    table, rows = read(write(tmp_path, "in.csv", data))
    assert table.header_row == header_row
    assert [row.number for row in rows] == numbers


def test_header_only_gives_no_rows(tmp_path: Path) -> None:
    table, rows = read(write(tmp_path, "in.csv", "a,b\n\n"))
    assert (table.header, rows) == (("a", "b"), [])


# -------------------------------------------------------------------------------------- cells


def test_cells_are_text_as_written_and_stripped(tmp_path: Path) -> None:
    data = "id , name,\n007,NA\nnull,NaN\nNone, x  \n\u00a0y\u00a0,\ufeffz\u200b\n\t1e5\t,-0\n"
    table, rows = read(write(tmp_path, "in.csv", data))
    assert table.header == ("id", "name")  # a trailing empty header cell is trimmed
    assert cells_of(rows) == [
        ("007", "NA"),
        ("null", "NaN"),
        ("None", "x"),
        ("y", "z"),
        ("1e5", "-0"),
    ]
    assert all(not row.issues and not row.numeric for row in rows)


def test_short_and_long_rows(tmp_path: Path) -> None:
    data = "a,b,c\n1,2\n1,2,3,,\n1,2,3,4,5\n1\n"
    _, rows = read(write(tmp_path, "in.csv", data))
    assert rows == [
        SourceRow(
            2,
            ("1", "2", ""),
            (
                Issue(
                    "short_row",
                    "the row has 2 cells but the header has 3",
                ),
            ),
            present=2,
        ),
        SourceRow(3, ("1", "2", "3")),  # extra cells all empty: trimmed silently
        SourceRow(
            4,
            ("1", "2", "3"),
            (
                Issue(
                    "long_row",
                    "the row has 5 cells but the header has 3; the cells after column 3 are "
                    "ignored (the first is '4'); a value that contains the delimiter must be "
                    "in quotes",
                ),
            ),
        ),
        SourceRow(
            5,
            ("1", "", ""),
            (
                Issue(
                    "short_row",
                    "the row has 1 cell but the header has 3",
                ),
            ),
            present=1,
        ),
    ]


def test_empty_title_in_the_middle_is_named_by_position(tmp_path: Path) -> None:
    table, rows = read(write(tmp_path, "in.csv", "a,,c\n1,2,3\n"))
    assert table.header == ("a", "column 2", "c")
    assert table.notices == (
        "in.csv: column 2 has no title in the header (row 1); it is called 'column 2'.",
    )
    assert cells_of(rows) == [("1", "2", "3")]


def test_sheet_given_for_a_csv_file_is_ignored_with_a_notice(tmp_path: Path) -> None:
    table, _ = read(write(tmp_path, "in.csv", "a\n1\n"), sheet="Data")
    assert table.notices == (
        "in.csv is a text file, which has no sheets: the sheet 'Data' is ignored.",
    )


def test_the_file_is_closed_on_exit(tmp_path: Path) -> None:
    if not Path("/proc/self/fd").is_dir():
        pytest.skip("needs /proc to count open files")
    csv_path = write(tmp_path, "in.csv", "a\n1\n2\n")
    xlsx_path = write_xlsx(tmp_path, lambda wb: wb.active.append(["a"]))  # type: ignore[union-attr]
    before = len(os.listdir("/proc/self/fd"))
    for path in (csv_path, xlsx_path):
        with open_table(path) as table:
            next(table.rows, None)  # leave rows unread
    assert len(os.listdir("/proc/self/fd")) == before


def _peak_reading(path: Path) -> int:
    """The most memory Python held while every row of ``path`` was read."""
    tracemalloc.start()
    try:
        with open_table(path) as table:
            for _ in table.rows:
                pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_does_not_grow_with_the_rows(tmp_path: Path) -> None:
    def peak(count: int) -> int:
        return _peak_reading(
            write(tmp_path, f"{count}.csv", "a,b,c\n" + "0012345,abcdef,x\n" * count)
        )

    peak(10)  # first use: imports, caches
    small, large = peak(10_000), peak(30_000)  # both larger than the 64 KiB scan chunk
    assert large < small + 16 * 1024


@pytest.mark.slow  # two seconds: the sheets must be large enough for openpyxl's buffers
def test_xlsx_memory_does_not_grow_with_the_rows(tmp_path: Path) -> None:
    # rows with a height, as Excel writes them: openpyxl alone keeps each one read
    def peak(count: int) -> int:
        def fill(wb: openpyxl.Workbook) -> None:
            ws = wb.active
            assert ws is not None
            ws.append(["a", "b"])
            for n in range(count):
                ws.append([f"id{n:08d}", n])
                ws.row_dimensions[n + 2].height = 20

        return _peak_reading(write_xlsx(tmp_path, fill, f"{count}.xlsx"))

    peak(3_000)  # first use: imports, caches, buffers that grow up to a few thousand rows
    small, large = peak(3_000), peak(9_000)  # openpyxl alone: 2 MB more
    assert large < small + 64 * 1024


# --------------------------------------------------------------------------- CSV input errors

NUL_LATE = b"a,b\n" + b"1,2\n" * 20_000 + b"3,\x004\n"


@pytest.mark.parametrize(
    ("name", "data", "options", "expected"),
    [
        ("in.csv", "", {}, "in.csv: the file is empty. Put a header row and data in it."),
        ("in.csv", "\n \n,,\n", {}, "in.csv: the file is empty. Put a header row and data in it."),
        (
            "in.csv",
            'a,b\n1,2\n"3,4\n5,6\n',
            {},
            'in.csv, row 3 (line 3): a quoted cell is never closed: a quote (") opens a cell '
            "that runs to the end of the file. Close the quote, or write a quote inside a cell "
            'as "".',
        ),
        (
            "in.csv",
            'a,b\n"x\ny",2\n3,"4\n',
            {},
            "in.csv, row 3 (line 4): a quoted cell is never closed",
        ),
        (
            "in.csv",
            'a,b\n"1"x,2\n',
            {},
            "in.csv, row 2 (line 2): a quoted cell is followed by more text before the next "
            'delimiter. Inside a quoted cell write a quote as two quotes (""), or do not start '
            "the cell with a quote.",
        ),
        (
            "in.csv",
            b"a,b\n1,2\n\x003,4\n",
            {},
            "in.csv, line 3: the file contains NUL bytes, so it looks like a binary file rather "
            "than text. Export the data as CSV; if it is UTF-16 text without a byte-order mark, "
            "give the encoding (utf-16-le or utf-16-be).",
        ),
        (
            "in.csv",
            NUL_LATE,
            {},
            "in.csv, line 20002: the line contains a NUL character, which a text file should "
            "not have. Remove it, or export the data as CSV again.",
        ),
        ("in.csv", "a\n1\n".encode("utf-16-le"), {}, "in.csv, line 1: the file contains NUL"),
        (
            "in.csv",
            b"PK\x03\x04\x14\x00\x00\x00",
            {},
            "in.csv is not a text file: it looks like an Excel workbook or another zip "
            "archive. If it is an Excel file, rename it to .xlsx.",
        ),
        ("in.csv", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", {}, "looks like an old Excel (.xls)"),
        ("in.txt", b"%PDF-1.7\n", {}, "in.txt is not a text file: it looks like a PDF document."),
        (
            "in.csv",
            "a\n1\n",
            {"encoding": "klingon"},
            "in.csv: 'klingon' is not an encoding Python knows. Common ones are utf-8, cp1252 "
            "(Windows), latin-1 and utf-16.",
        ),
        ("in.csv", "a\n1\n", {"encoding": "base64"}, "'base64' is not an encoding"),
        (
            "in.csv",
            b"a,b\n1,2\n3,\xff\n",
            {"encoding": "utf-8"},
            "in.csv, line 3: the text cannot be read as utf-8. Give the file's real encoding, "
            "or save it as CSV UTF-8.",
        ),
        (
            "in.csv",
            codecs.BOM_UTF8 + b"a\n\xe9\n",
            {},
            "in.csv, line 2: the text cannot be read as utf-8-sig",
        ),
        (
            "in.csv",
            b"a\nok\n\x81\n",
            {},
            "in.csv, line 3: the file is neither UTF-8 nor Windows-1252 text. Give its "
            "encoding, or save it as CSV UTF-8.",
        ),
        (
            "in.csv",
            "a\n".encode("utf-16-le") + b"\xe9",
            {"encoding": "utf-16-le"},
            "line 2: the text cannot",
        ),
    ],
)
def test_csv_input_error(
    tmp_path: Path, name: str, data: bytes | str, options: dict[str, str], expected: str
) -> None:
    path = write(tmp_path, name, data)
    with pytest.raises(InputError) as caught:
        read(path, **options)
    assert expected in str(caught.value)


def test_a_cell_over_the_size_limit(tmp_path: Path) -> None:
    path = write(tmp_path, "in.csv", 'a,b\n1,"' + "x" * FIELD_LIMIT + 'x"\n2,3\n')
    with pytest.raises(
        InputError, match=r"^in\.csv, row 2 \(line 2\): a cell is longer than 16 MiB"
    ):
        read(path)


# ------------------------------------------------------------------------------ file problems


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "in.pdf",
            "in.pdf: relimport cannot read files ending in .pdf. It reads .csv, .tsv, .txt, "
            ".xlsx, .xlsm, .xls, .xlsb, .ods: save the data as .xlsx or as CSV UTF-8 (.csv).",
        ),
        ("in.json", "in.json: relimport cannot read files ending in .json."),
        ("README", "README: relimport cannot read files without an extension."),
        (
            "in.Numbers",
            "in.Numbers is an Apple Numbers spreadsheet (.numbers), which is not supported yet. "
            "Open it in your spreadsheet program and save it as .xlsx or as CSV UTF-8 (.csv).",
        ),
    ],
)
def test_unsupported_kind_of_file(tmp_path: Path, name: str, expected: str) -> None:
    with pytest.raises(InputError) as caught:
        read(write(tmp_path, name, "a,b\n1,2\n"))
    assert expected in str(caught.value)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"there is no such file\. Check the file name"):
        read(tmp_path / "nope.csv")
    (tmp_path / "dir.csv").mkdir()
    with pytest.raises(InputError, match=r"dir\.csv is a folder, not a file"):
        read(tmp_path / "dir.csv")


# ------------------------------------------------------------------------------------- XLSX


def test_xlsx_values_become_text_and_numbers_are_marked(tmp_path: Path) -> None:
    def fill(wb: openpyxl.Workbook) -> None:
        ws = wb.active
        assert ws is not None
        ws.append(["first_id", " second_id ", "note"])
        ws.append(["007", 4711, "  a\u00a0"])
        ws.append([12.0, 2.5, True])
        ws.append([1e16, -0.0, False])
        ws.append([datetime(2024, 1, 5), datetime(2024, 1, 5, 10, 30), date(2024, 2, 29)])
        ws.append(["NA", "null", time(8, 15)])

    table, rows = read(write_xlsx(tmp_path, fill))
    assert (table.kind, table.sheet, table.header, table.header_row) == (
        "xlsx",
        "Sheet",
        ("first_id", "second_id", "note"),
        1,
    )
    assert (table.encoding, table.delimiter, table.notices) == (None, None, ())
    assert rows == [
        SourceRow(2, ("007", "4711", "a"), numeric=frozenset({1})),
        SourceRow(3, ("12", "2.5", "TRUE"), numeric=frozenset({0, 1})),
        SourceRow(4, ("10000000000000000", "0", "FALSE"), numeric=frozenset({0, 1})),
        SourceRow(5, ("2024-01-05", "2024-01-05 10:30:00", "2024-02-29")),
        SourceRow(6, ("NA", "null", "08:15:00")),
    ]


def test_xlsx_text_reads_as_openpyxl_reads_it_plain_rich_or_empty(tmp_path: Path) -> None:
    # openpyxl writes every string inline (<is><t>..</t></is>, or runs of rich text): the
    # reader takes plain text without openpyxl's rich-text objects, and must read the same
    def fill(wb: openpyxl.Workbook) -> None:
        ws = wb.active
        assert ws is not None
        ws.append(["first_id", "second_id", "note"])
        bold = InlineFont(b=True)
        ws.append(["  spaced\t", CellRichText("ab", TextBlock(bold, "cd"), " e "), ""])
        ws.append([CellRichText(TextBlock(bold, "x")), "\u00e9\u2713 <&>", "x" * 300])

    path = write_xlsx(tmp_path, fill)
    book = openpyxl.load_workbook(path)  # openpyxl's own reading, as the reference
    sheet = book.active
    assert sheet is not None
    expected = [
        tuple("" if value is None else str(value).strip(BLANK) for value in values)
        for values in sheet.iter_rows(min_row=2, values_only=True)
    ]
    _, rows = read(path)
    assert cells_of(rows) == expected
    assert expected[0][:2] == ("spaced", "abcd e")


def test_xlsx_sheet_selection(tmp_path: Path) -> None:
    def fill(wb: openpyxl.Workbook) -> None:
        first = wb.active
        assert first is not None
        first.title = "Notes"
        first.append(["nothing"])
        data = wb.create_sheet("Data")
        data.append(["a"])
        data.append(["1"])

    path = write_xlsx(tmp_path, fill)
    assert read(path)[0].sheet == "Notes"
    for name in ("Data", "data"):  # as in Excel, case does not matter
        table, rows = read(path, sheet=name)
        assert (table.sheet, cells_of(rows)) == ("Data", [("1",)])
    with pytest.raises(InputError) as caught:
        read(path, sheet="Relations")
    assert (
        str(caught.value)
        == "in.xlsx has no sheet called 'Relations'. Its sheets are: 'Notes', 'Data'."
    )


def test_xlsx_header_below_row_one_and_blank_rows(tmp_path: Path) -> None:
    def fill(wb: openpyxl.Workbook) -> None:
        ws = wb.active
        assert ws is not None
        ws["B3"] = "first"
        ws["C3"] = "second"
        ws["D3"] = "   "  # a trailing empty column
        ws["E3"].font = Font(bold=True)  # a styled, empty cell: present in the file
        ws["B4"] = "x"
        ws["C6"] = "y"
        ws["B7"] = " "

    table, rows = read(write_xlsx(tmp_path, fill))
    assert (table.header, table.header_row) == (("column 1", "first", "second"), 3)
    assert table.notices == (
        "in.xlsx: column A has no title in the header (row 3); it is called 'column 1'.",
    )
    assert rows == [SourceRow(4, ("", "x", "")), SourceRow(6, ("", "", "y"))]


def test_xlsx_values_right_of_the_header(tmp_path: Path) -> None:
    far = 2 + MARGIN + 1

    def fill(wb: openpyxl.Workbook) -> None:
        ws = wb.active
        assert ws is not None
        ws.append(["a", "b"])
        ws.append(["1", "2", None, "note"])
        ws.append(["3", "4"])
        ws.cell(row=3, column=far, value="beyond the margin: ignored")
        ws.cell(row=4, column=5, value="alone")
        ws["XFD5"] = "stray"  # the dimension now claims A1:XFD5
        ws["A1048576"] = "last"  # ... and A1:XFD1048576

    table, rows = read(write_xlsx(tmp_path, fill))
    assert table.header == ("a", "b")
    assert rows == [
        SourceRow(
            2,
            ("1", "2"),
            (
                Issue(
                    "long_row",
                    "the row has a value in column D ('note'), right of the header's last column "
                    "(B); it is ignored",
                ),
            ),
        ),
        SourceRow(3, ("3", "4")),
        SourceRow(
            4,
            ("", ""),
            (
                Issue(
                    "long_row",
                    "the row has a value in column E ('alone'), right of the header's last "
                    "column (B); it is ignored",
                ),
            ),
        ),
        SourceRow(1048576, ("last", "")),
    ]


def test_xlsx_formulas_give_their_saved_value(tmp_path: Path) -> None:
    def fill(wb: openpyxl.Workbook) -> None:
        ws = wb.active
        assert ws is not None
        ws.append(["id", "total"])
        ws.append(["a", "=1+1"])

    path = write_xlsx(tmp_path, fill)
    # openpyxl saves formulas without a value (it does not calculate): the cell reads as
    # empty, as documented in reader_xlsx; read-only data-only mode cannot tell it apart.
    assert read(path)[1] == [SourceRow(2, ("a", ""))]
    # Excel saves the value with the formula: put one in, as Excel would.
    saved = tmp_path / "saved.xlsx"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(saved, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                assert b"<f>1+1</f><v />" in data
                data = data.replace(b"<f>1+1</f><v />", b"<f>1+1</f><v>2</v>")
            target.writestr(item, data)
    assert read(saved)[1] == [SourceRow(2, ("a", "2"), numeric=frozenset({1}))]


def test_xlsm_is_read_and_an_encoding_is_ignored(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path, lambda wb: wb.active.append(["a"]), name="in.xlsm")  # type: ignore[union-attr]
    table, rows = read(path, encoding="utf-8")
    assert (table.kind, table.header, rows) == ("xlsx", ("a",), [])
    assert table.notices == ("in.xlsm is an Excel file: the encoding 'utf-8' is ignored.",)


def test_xlsx_many_untitled_columns_make_one_notice(tmp_path: Path) -> None:
    path = write_xlsx(tmp_path, lambda wb: wb.active.append(["id", *[None] * 6, "far"]))  # type: ignore[union-attr]
    table, _ = read(path)
    assert table.header == ("id", *(f"column {n}" for n in range(2, 8)), "far")
    assert table.notices == (
        "in.xlsx: 6 columns have no title in the header (row 1): column B, column C, "
        "column D, column E, column F and 1 more; each is called 'column N' after its "
        "position (1 is the first).",
    )


def test_xlsx_chart_sheet_is_refused(tmp_path: Path) -> None:
    def fill(wb: openpyxl.Workbook) -> None:
        ws = wb.active
        assert ws is not None
        ws.append(["a"])
        ws.append([1])
        chart = BarChart()
        chart.add_data(Reference(ws, min_col=1, min_row=1, max_row=2))
        wb.create_chartsheet("Chart").add_chart(chart)

    with pytest.raises(InputError) as caught:
        read(write_xlsx(tmp_path, fill), sheet="Chart")
    assert str(caught.value) == (
        "in.xlsx: the sheet 'Chart' is a chart, not a sheet of cells. Choose another sheet."
    )
    assert read(tmp_path / "in.xlsx")[0].sheet == "Sheet"
    empty_chart = write_xlsx(tmp_path, lambda wb: wb.create_chartsheet("Chart"), "bare.xlsx")
    with pytest.raises(InputError, match=r"^bare\.xlsx cannot be read as an Excel workbook \("):
        read(empty_chart)  # openpyxl's read-only mode fails on a chart sheet without a chart


def test_xlsx_damaged_after_the_header(tmp_path: Path) -> None:
    def fill(wb: openpyxl.Workbook) -> None:
        for number in range(600):
            wb.active.append([f"value {number}"])  # type: ignore[union-attr]

    path = write_xlsx(tmp_path, fill)
    damaged = tmp_path / "damaged.xlsx"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(damaged, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data[: data.index(b'<row r="400"') + 10]  # cut inside row 400
            target.writestr(item, data)
    with open_table(damaged) as table:
        assert table.header == ("value 0",)
        with pytest.raises(InputError) as caught:
            for _ in table.rows:
                pass
    assert str(caught.value).startswith(
        "damaged.xlsx, sheet 'Sheet': the file is damaged: it cannot be read from row 257 on ("
    )


def zip_bytes(name: str, data: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "in.xlsx is empty (0 bytes). Save the workbook again from Excel."),
        (
            b"id,name\n1,2\n",
            "in.xlsx is not an Excel workbook: it looks like text (a CSV file?). If it is CSV, "
            "rename it to .csv.",
        ),
        (
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504),
            "in.xlsx is password-protected, or is an old Excel (.xls) file renamed. Remove the "
            "password (in Excel: File > Info > Protect Workbook > Encrypt with Password, and "
            "clear it), or save it as .xlsx, then import it again.",
        ),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "in.xlsx is not an Excel workbook. Open it in"),
        (zip_bytes("hello.txt", b"hi"), "in.xlsx cannot be read as an Excel workbook ("),
        (b"PK\x03\x04" + bytes(100), "in.xlsx cannot be read as an Excel workbook ("),
    ],
)
def test_xlsx_input_error(tmp_path: Path, data: bytes, expected: str) -> None:
    with pytest.raises(InputError) as caught:
        read(write(tmp_path, "in.xlsx", data))
    assert expected in str(caught.value)


def test_xlsx_empty_sheet_and_duplicate_titles(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        read(write_xlsx(tmp_path, lambda wb: None))
    assert str(caught.value) == (
        "in.xlsx, sheet 'Sheet': the sheet is empty. Put a header row and data in it."
    )
    path = write_xlsx(tmp_path, lambda wb: wb.active.append(["id", "x", "id"]), "dup.xlsx")  # type: ignore[union-attr]
    table, _ = read(path)
    assert table.header == ("id", "x", "id_2")
    assert table.duplicates == {"id": (1, 3)}
    assert table.notices == (
        "dup.xlsx: 2 columns of the header (row 1) are called 'id' (column A and column C); "
        "the later ones are called 'id_2'.",
    )


# ------------------------------------------------------------------------- round-trip property

SUFFIX_DELIMITER = {".csv": ",", ".txt": ",", ".tsv": "\t"}
ENCODINGS = ("utf-8", "utf-8-sig", "utf-16", "utf-32", "cp1252")


@dataclass(frozen=True)
class Written:
    """A table as csv.writer wrote it, and how."""

    header: list[str]
    rows: list[list[str]]
    encoding: str
    suffix: str
    delimiter: str
    newline: str
    quote_all: bool

    def data(self) -> bytes:
        buffer = io.StringIO(newline="")
        writer = csv.writer(
            buffer,
            delimiter=self.delimiter,
            quoting=csv.QUOTE_ALL if self.quote_all else csv.QUOTE_MINIMAL,
            lineterminator=self.newline,
        )
        writer.writerows([self.header, *self.rows])
        return buffer.getvalue().encode(self.encoding)


@st.composite
def written_tables(draw: st.DrawFn) -> Written:
    encoding = draw(st.sampled_from(ENCODINGS))
    codec = "cp1252" if encoding == "cp1252" else "utf-8"
    quote_all = draw(st.booleans())
    newline = draw(st.sampled_from(["\r\n", "\n"]))
    tricky = ' \t\n\u00a0",;|' + ("" if codec == "cp1252" else "\ufeff\u200b\u2028")
    if newline == "\r\n":  # with "\n" alone, Python 3.11's writer leaves a "\r" unquoted
        tricky += "\r"
    characters = st.characters(codec=codec, exclude_categories=("Cs", "Cc"))  # Cc: \0, \r, ...
    cell = st.text(characters | st.sampled_from(tricky), max_size=8)
    title = cell.filter(lambda text: bool(text.strip(BLANK)))
    if not quote_all:  # delimiters outside quotes in the header would make the choice a guess
        title = title.filter(lambda text: not any(d in text for d in DELIMITERS))
    header = draw(st.lists(title, min_size=1, max_size=5, unique_by=lambda t: t.strip(BLANK)))
    # A record of nothing but spaces, quotes and delimiters is not taken for the header.
    assume(any(t.strip(BLANK + '",;|') for t in header))
    rows = draw(st.lists(st.lists(cell, min_size=len(header), max_size=len(header)), max_size=6))
    suffix = draw(st.sampled_from(sorted(SUFFIX_DELIMITER)))
    # One column has no delimiter to see: the file's usual one is taken.
    delimiter = draw(st.sampled_from(DELIMITERS)) if len(header) > 1 else SUFFIX_DELIMITER[suffix]
    return Written(header, rows, encoding, suffix, delimiter, newline, quote_all)


@settings(max_examples=100, deadline=None)
@given(written_tables(), st.booleans())
def test_what_csv_writer_wrote_is_read_back(
    tmp_path_factory: pytest.TempPathFactory, written: Written, say_encoding: bool
) -> None:
    data = written.data()
    if written.encoding == "cp1252" and not say_encoding and not data.isascii():
        try:  # cp1252 bytes that are valid UTF-8 are read as UTF-8: there is no telling
            data.decode("utf-8")
            assume(False)
        except UnicodeDecodeError:
            pass
    path = tmp_path_factory.getbasetemp() / f"in{written.suffix}"  # rewritten each time
    path.write_bytes(data)

    table, rows = read(path, **({"encoding": written.encoding} if say_encoding else {}))

    assert table.header == tuple(title.strip(BLANK) for title in written.header)
    assert table.delimiter == written.delimiter
    stripped = [tuple(text.strip(BLANK) for text in row) for row in written.rows]
    expected = [(number, cells) for number, cells in enumerate(stripped, 2) if any(cells)]
    assert [(row.number, row.cells) for row in rows] == expected
    assert all(not row.issues for row in rows)


def test_excels_lock_file_is_named_as_such(tmp_path: Path) -> None:
    lock = tmp_path / "~$relations.xlsx"
    lock.write_bytes(b"\x0bAna Ruiz" + bytes(150))
    with pytest.raises(InputError) as caught:
        read(lock)
    assert str(caught.value) == (
        "~$relations.xlsx is the lock file Excel keeps beside a workbook while it is open "
        f"(here relations.xlsx), not a workbook. Import {tmp_path / 'relations.xlsx'} instead; "
        "save it and close it in Excel first if it has changes."
    )
