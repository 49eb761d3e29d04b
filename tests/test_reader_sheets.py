"""Tests of importer.read.sheets: .ods files built by hand in tmp_path, read back as a Table.

pandas can write .ods only with odfpy, which relimport does not need, so :func:`write_ods`
writes the zip itself: ``mimetype`` first and stored, ``content.xml`` and the manifest. No
library here writes .xls or .xlsb files (xlwt is long gone), so those are tested only as
damaged files and as an .xlsx renamed (calamine goes by the content, not by the name).
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape, quoteattr

import openpyxl
import pytest

from importer.errors import InputError
from importer.models import Issue, SourceRow
from importer.read import Table, open_table
from importer.read.sheets import open_sheet

#: A cell: None (empty), text, or a typed value as (office:value-type, value attribute, value).
Cell = None | str | tuple[str, str, str]

_MIMETYPE = "application/vnd.oasis.opendocument.spreadsheet"
_MANIFEST = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" '
    'manifest:version="1.2">'
    f'<manifest:file-entry manifest:full-path="/" manifest:media-type="{_MIMETYPE}"/>'
    '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
    "</manifest:manifest>"
)
_CONTENT = (
    '<?xml version="1.0" encoding="UTF-8"?><office:document-content '
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
    "<office:body><office:spreadsheet>{}</office:spreadsheet></office:body>"
    "</office:document-content>"
)


def ods_cell(cell: Cell) -> str:
    if cell is None:
        return "<table:table-cell/>"
    kind, attribute, value = ("string", "", cell) if isinstance(cell, str) else cell
    typed = f" office:{attribute}={quoteattr(value)}" if attribute else ""
    return (
        f'<table:table-cell office:value-type="{kind}"{typed}>'
        f"<text:p>{escape(value)}</text:p></table:table-cell>"
    )


def write_ods(tmp_path: Path, sheets: dict[str, list[list[Cell]]], name: str = "in.ods") -> Path:
    tables = "".join(
        f"<table:table table:name={quoteattr(title)}>"
        + "".join(
            "<table:table-row>" + "".join(map(ods_cell, row or [None])) + "</table:table-row>"
            for row in rows
        )
        + "</table:table>"
        for title, rows in sheets.items()
    )
    path = tmp_path / name
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(zipfile.ZipInfo("mimetype"), _MIMETYPE, zipfile.ZIP_STORED)
        archive.writestr("content.xml", _CONTENT.format(tables))
        archive.writestr("META-INF/manifest.xml", _MANIFEST)
    return path


def read(path: Path, **options: Any) -> tuple[Table, list[SourceRow]]:
    with open_table(path, **options) as table:
        return table, list(table.rows)


def number(value: str) -> tuple[str, str, str]:
    return ("float", "value", value)


TIME = "PT08H15M00S"  # as LibreOffice writes it: 08:15:00
DATA: list[list[Cell]] = [
    [],  # row 1 is blank: the header is on row 2
    [" first_id ", "second_id", "note"],
    ["007", number("12345678901234567"), "  a\u00a0"],
    [],
    [number("2.5"), ("boolean", "boolean-value", "true"), ("date", "date-value", "2024-02-29")],
    [
        ("date", "date-value", "2024-01-05T10:30:00"),
        number("-0"),
        ("time", "time-value", "PT08H15M00S"),
    ],
    [number("1e16"), ("percentage", "value", "0.25"), None, None, "stray"],
    ["short"],
    [" ", None, "\u00a0"],  # blank once stripped: no row
    ["NA", "null", "NaN"],
]


def test_ods_values_become_text_and_numbers_are_marked(tmp_path: Path) -> None:
    table, rows = read(write_ods(tmp_path, {"Data": DATA}))
    assert (table.kind, table.sheet, table.header, table.header_row) == (
        "ods",
        "Data",
        ("first_id", "second_id", "note"),
        2,
    )
    assert (table.encoding, table.delimiter, table.notices) == (None, None, ())
    assert rows == [
        # The id stored as a number has lost its last digit: `numeric` lets the validator say so.
        SourceRow(3, ("007", "12345678901234568", "a"), numeric=frozenset({1})),
        SourceRow(5, ("2.5", "TRUE", "2024-02-29"), numeric=frozenset({0})),
        SourceRow(6, ("2024-01-05 10:30:00", "0", "08:15:00"), numeric=frozenset({1})),
        SourceRow(
            7,
            ("10000000000000000", "0.25", ""),
            (
                Issue(
                    "long_row",
                    "the row has a value in column E ('stray'), right of the header's last column "
                    "(C); it is ignored",
                ),
            ),
            frozenset({0, 1}),
        ),
        SourceRow(8, ("short", "", "")),
        SourceRow(10, ("NA", "null", "NaN")),
    ]


def test_ods_sheet_selection(tmp_path: Path) -> None:
    path = write_ods(tmp_path, {"Notes": [["nothing"]], "Data": [["a"], ["1"]]})
    assert read(path)[0].sheet == "Notes"
    for name in ("Data", "data"):  # as in Excel, case does not matter
        table, rows = read(path, sheet=name)
        assert (table.sheet, [row.cells for row in rows]) == ("Data", [("1",)])
    with pytest.raises(InputError) as caught:
        read(path, sheet="Relations")
    assert str(caught.value) == (
        "in.ods has no sheet called 'Relations'. Its sheets are: 'Notes', 'Data'."
    )


def test_ods_empty_sheet_untitled_and_duplicate_columns(tmp_path: Path) -> None:
    with pytest.raises(InputError) as caught:
        read(write_ods(tmp_path, {"Empty": [[], [" "]]}))
    assert str(caught.value) == (
        "in.ods, sheet 'Empty': the sheet is empty. Put a header row and data in it."
    )
    table, _ = read(write_ods(tmp_path, {"S": [["id", None, "x"]]}, "gap.ods"))
    assert table.header == ("id", "column 2", "x")
    assert table.notices == (
        "gap.ods: column B has no title in the header (row 1); it is called 'column 2'.",
    )
    table, _ = read(write_ods(tmp_path, {"S": [["id", "x", "id", "id_2"]]}, "dup.ods"))
    assert table.header == ("id", "x", "id_3", "id_2")  # a name that is taken is not reused
    assert table.duplicates == {"id": (1, 3)}


def test_size_limits(tmp_path: Path) -> None:
    path = write_ods(tmp_path, {"S": [["a", "b", "c"], ["1", "2", "3"], ["4", "5", "6"]]})
    size = path.stat().st_size
    with open_sheet(path, max_bytes=size, max_rows=3, max_columns=3) as table:
        assert len(list(table.rows)) == 2  # at the limits: read
    with pytest.raises(InputError) as caught, open_sheet(path, max_bytes=size - 1):
        pass
    assert str(caught.value) == (
        f"in.ods is {size / 1e6:.1f} MB, larger than the {(size - 1) / 1e6:g} MB that relimport "
        "reads from .ods files, which it must hold in memory. Open it in your spreadsheet "
        "program and save it as .xlsx or .csv to read files this big."
    )
    for max_rows, max_columns in ((2, 1_000), (1_000_000, 2)):
        with (
            pytest.raises(InputError) as caught,
            open_sheet(path, max_rows=max_rows, max_columns=max_columns),
        ):
            pass
        assert str(caught.value) == (
            f"in.ods, sheet 'S': the sheet has more than {max_rows:,} rows or {max_columns:,} "
            "columns, more than relimport reads from .ods files, which it must hold in memory. "
            "Open it in your spreadsheet program and save it as .xlsx or .csv to read files "
            "this big."
        )


@pytest.mark.parametrize("name", ["in.xls", "in.ods", "in.xlsb", "in.XLS"])
@pytest.mark.parametrize(
    "data",
    [
        pytest.param(bytes(range(256)) * 8, id="random bytes"),
        pytest.param(b"", id="empty"),
        pytest.param(b"id,name\n1,2\n", id="csv"),
        pytest.param(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504), id="bare OLE2 header"),
        pytest.param(b"PK\x03\x04" + bytes(100), id="broken zip"),
    ],
)
def test_damaged_file(tmp_path: Path, name: str, data: bytes) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(InputError) as caught:
        read(path)
    suffix = path.suffix
    assert str(caught.value) == (
        f"{name} cannot be read as a spreadsheet (Cannot detect file format). It may be "
        f"damaged, password-protected or not really a {suffix} file. Open it in your "
        "spreadsheet program and save it as .xlsx or .csv."
    )


def test_ods_with_broken_content_is_damaged(tmp_path: Path) -> None:
    path = write_ods(tmp_path, {"S": [["a"], ["1"]]})
    broken = tmp_path / "broken.ods"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(broken, "w") as target:
        for name in source.namelist():
            data = source.read(name)
            target.writestr(name, data[: len(data) // 2] if name == "content.xml" else data)
    with pytest.raises(InputError, match=r"^broken\.ods cannot be read as a spreadsheet \("):
        read(broken)


@pytest.mark.parametrize("name", ["in.xls", "in.xlsb"])
def test_an_xlsx_renamed_is_read_by_its_content(tmp_path: Path, name: str) -> None:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    assert sheet is not None
    sheet["B3"] = "id"
    sheet["B5"] = 4711
    workbook.save(tmp_path / name)
    table, rows = read(tmp_path / name, encoding="utf-8")
    assert (table.kind, table.sheet, table.header, table.header_row) == (
        name.split(".")[1],
        "Sheet",
        ("column 1", "id"),
        3,
    )
    assert table.notices == (
        f"{name} is a spreadsheet: the encoding 'utf-8' is ignored.",
        f"{name}: column A has no title in the header (row 3); it is called 'column 1'.",
    )
    assert rows == [SourceRow(5, ("", "4711"), numeric=frozenset({1}))]


def test_open_table_reads_ods_in_any_case_and_lists_what_it_reads(tmp_path: Path) -> None:
    path = write_ods(tmp_path, {"S": [["a"], ["1"]]}, "IN.ODS")
    table, rows = read(path)
    assert (table.kind, rows) == ("ods", [SourceRow(2, ("1",))])
    with pytest.raises(InputError) as caught:
        read(write_ods(tmp_path, {"S": [["a"]]}, "in.pdf"))
    assert str(caught.value) == (
        "in.pdf: relimport cannot read files ending in .pdf. It reads .csv, .tsv, .txt, .xlsx, "
        ".xlsm, .xls, .xlsb, .ods: save the data as .xlsx or as CSV UTF-8 (.csv)."
    )
