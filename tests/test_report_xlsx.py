from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import pytest
from openpyxl import Workbook, load_workbook
from openpyxl.utils import get_column_letter
from openpyxl.utils.escape import unescape
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.worksheet.worksheet import Worksheet

from importer.errors import InputError
from importer.models import Outcome, SourceRow, Status
from importer.report import RESULT_COLUMNS, ResultWriter, RunSummary, result_header
from importer.report.xlsx import EXCEL_ROWS, FILLS, write_workbook

HEADER = ("Student ID", "Teacher ID", "note")
COLUMNS = result_header(HEADER)
LAST = get_column_letter(len(COLUMNS))
TRICKY = [
    "=1+1",
    "+33 6",
    "-5",
    "@SUM(A1)",
    "000123",
    "1e5",
    "67a349a79b28947ec1f65bb5",
    "Zoë 東京 🎉",
    "#N/A",
    "TRUE",
    "'=1+1",
    "''@x",
    "'quoted",
    "  padded  ",
    "two\nlines",
]


def write_results(
    path: Path, rows: Sequence[tuple[SourceRow, Outcome]], header: tuple[str, ...] = HEADER
) -> Path:
    with ResultWriter(path, header) as writer:
        for seq, (row, outcome) in enumerate(rows):
            writer.add(seq, row, outcome)
    return path


def created(count: int) -> list[tuple[SourceRow, Outcome]]:
    return [(SourceRow(n + 2, (f"s{n}", "t", "")), Outcome(Status.CREATED)) for n in range(count)]


def sheet_of(xlsx: Path, name: str = "Rows") -> Worksheet:
    sheet = load_workbook(xlsx)[name]
    assert isinstance(sheet, Worksheet)
    return sheet


def workbook(tmp_path: Path, rows: Sequence[tuple[SourceRow, Outcome]]) -> Worksheet:
    """The sheet "Rows" of the workbook made from a result CSV of ``rows``."""
    xlsx = tmp_path / "results.xlsx"
    write_workbook(write_results(tmp_path / "results.csv", rows), xlsx, {"exit_code": 0})
    return sheet_of(xlsx)


def at(name: str, row: int = 2) -> str:
    """The coordinate of a result column in the sheet "Rows"."""
    return f"{get_column_letter(COLUMNS.index(name) + 1)}{row}"


def values(sheet: Worksheet) -> list[list[object]]:
    return [[cell.value for cell in row] for row in sheet.iter_rows()]


@pytest.mark.parametrize("text", TRICKY)
def test_every_cell_is_the_text_written_as_a_text_cell(tmp_path: Path, text: str) -> None:
    outcome = Outcome(Status.FAILED, error_code="E", error=text, http_status=400, attempts=1)
    sheet = workbook(tmp_path, [(SourceRow(2, (text, "t1", "")), outcome)])
    results: dict[str, object] = {"row": 2, "status": "failed", "error_code": "E", "error": text}
    results |= {"http_status": 400, "attempts": 1}
    assert values(sheet) == [
        [*COLUMNS],
        [text, "t1", None, *(results.get(name) for name in RESULT_COLUMNS)],
    ]
    assert sheet["A2"].data_type == "s"
    assert sheet[at("error")].data_type == "s"  # the API's text, restored too
    for name in ("row", "http_status", "attempts"):  # relimport's numbers sort as numbers
        assert sheet[at(name)].data_type == "n"


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("bell\x07", "bell_x0007_"),
        ("a\r\nb", "a_x000D_\nb"),  # XML would read the carriage return back as a line feed
        ("_x0041_", "_x005F_x0041_"),  # Excel would show "A" for the text as written
        ("tab\tok", "tab\tok"),
        ("_x41_", "_x41_"),
    ],
)
def test_text_xml_cannot_hold_is_stored_in_excels_escape(
    tmp_path: Path, text: str, stored: str
) -> None:
    sheet = workbook(tmp_path, [(SourceRow(2, (text, "t", "")), Outcome(Status.CREATED))])
    assert sheet["A2"].value == stored
    assert unescape(stored) == text


def test_an_overlong_cell_is_cut_to_excels_limit(tmp_path: Path) -> None:
    long = "x" * 40_000
    sheet = workbook(tmp_path, [(SourceRow(2, (long, "t", "")), Outcome(Status.CREATED))])
    assert sheet["A2"].value == "x" * 32_766 + "…"


def test_the_header_is_bold_and_frozen_and_the_filter_covers_the_rows(tmp_path: Path) -> None:
    rows = [(SourceRow(n + 2, (f"s{n}", f"t{n}", "")), Outcome(Status.CREATED)) for n in range(3)]
    sheet = workbook(tmp_path, rows)
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:{LAST}4"
    assert [cell.font.b for cell in sheet[1]] == [True] * len(COLUMNS)
    assert [cell.font.b for cell in sheet[2]] == [False] * len(COLUMNS)


def test_the_header_is_written_as_the_user_wrote_it(tmp_path: Path) -> None:
    header = ("=Student", "-Teacher", "'@note")
    rows = [(SourceRow(2, ("s", "t", "")), Outcome(Status.CREATED))]
    xlsx = tmp_path / "results.xlsx"
    write_workbook(write_results(tmp_path / "results.csv", rows, header), xlsx, {})
    sheet = sheet_of(xlsx)
    assert [(cell.value, cell.data_type) for cell in sheet[1]][:4] == [
        ("=Student", "s"),
        ("-Teacher", "s"),
        ("'@note", "s"),
        ("row", "s"),
    ]


def test_columns_are_as_wide_as_their_text_within_limits(tmp_path: Path) -> None:
    row = SourceRow(2, ("s" * 30, "t" * 500, ""))
    sheet = workbook(tmp_path, [(row, Outcome(Status.CREATED))])
    widths = {letter: sheet.column_dimensions[letter].width for letter in "ABCD"}
    assert widths == {"A": 31, "B": 60, "C": 8, "D": 8}


GREEN, GREY, RED, AMBER = "FFC6EFCE", "FFD9D9D9", "FFFFC7CE", "FFFFEB9C"
COLOURS = {
    Status.CREATED: GREEN,
    Status.ALREADY_EXISTS: GREEN,
    Status.DELETED: GREEN,
    Status.DUPLICATE_ROW: GREY,
    Status.SKIPPED: GREY,
    Status.VALID: GREY,
    Status.GONE: GREY,
    Status.WOULD_DELETE: GREY,
    Status.INVALID: RED,
    Status.UNRESOLVED: RED,
    Status.AMBIGUOUS: RED,
    Status.FAILED: RED,
    Status.NOT_SENT: AMBER,
}


def test_every_status_has_a_colour_decided() -> None:
    assert set(COLOURS) == set(Status)  # a new status: decide its colour here and in FILLS
    assert {status for status, colour in COLOURS.items() if colour != AMBER} == set(FILLS)


@pytest.mark.parametrize(("status", "colour"), COLOURS.items())
def test_the_status_cell_is_coloured_by_status(tmp_path: Path, status: Status, colour: str) -> None:
    sheet = workbook(tmp_path, [(SourceRow(2, ("s", "t", "")), Outcome(status))])
    assert sheet[at("status")].value == status.value
    assert sheet[at("status")].fill.fgColor.rgb == colour
    assert sheet[at("row")].fill.fill_type is None  # only the status cell


def test_the_status_column_is_found_by_its_name_and_an_unknown_status_is_amber(
    tmp_path: Path,
) -> None:
    header = result_header(("status", "x"))  # the result's own column is "result_status"
    results = {"row": "2", "status": "surprise", "attempts": "0"}
    path = tmp_path / "results.csv"
    with path.open("w", encoding="utf-8-sig", newline="") as file:
        row = ["created", "x", *(results.get(name, "") for name in RESULT_COLUMNS)]
        csv.writer(file).writerows([header, row])
    write_workbook(path, tmp_path / "results.xlsx", {})
    sheet = sheet_of(tmp_path / "results.xlsx")
    status = sheet.cell(2, header.index("result_status") + 1)
    assert (status.value, status.fill.fgColor.rgb) == ("surprise", AMBER)
    assert sheet["A2"].fill.fill_type is None  # the input's own "status" column


def test_the_summary_sheet_flattens_the_summary(tmp_path: Path) -> None:
    summary = RunSummary(
        title="Import of =in.csv",
        input_path=Path("in.csv"),
        result_path=Path("results.csv"),
        counts={Status.CREATED: 2, Status.FAILED: 1},
        requests=3,
        rate_limited=0,
        elapsed=1.5,
        dry_run=False,
        budgets={"loc1": {"requests": 3, "remaining": None}},
    )
    rows = [(SourceRow(2, ("s", "t", "")), Outcome(Status.CREATED))]
    xlsx = tmp_path / "results.xlsx"
    write_workbook(write_results(tmp_path / "results.csv", rows), xlsx, summary.as_json())
    book = load_workbook(xlsx)
    assert book.sheetnames == ["Rows", "Summary", "Help"]
    sheet = book["Summary"]
    assert isinstance(sheet, Worksheet)
    table = values(sheet)
    assert table[0] == ["field", "value"]
    fields = {row[0]: row[1] for row in table[1:]}
    assert fields["exit_code"] == "1"
    assert fields["outcome"] == "partial"
    assert (fields["counts.created"], fields["counts.failed"]) == ("2", "1")
    assert fields["budgets.loc1.requests"] == "3"
    assert fields["budgets.loc1.remaining"] is None
    assert (fields["dry_run"], fields["seconds"]) == ("false", "1.5")
    assert fields["input.path"] == "in.csv"
    assert fields["title"] == "Import of =in.csv"
    assert {cell.data_type for row in sheet.iter_rows() for cell in row if cell.value} == {"s"}


def test_a_list_in_the_summary_is_joined(tmp_path: Path) -> None:
    path = write_results(tmp_path / "results.csv", [])
    write_workbook(path, tmp_path / "results.xlsx", {"notes": ["a", 2], "budgets": {}})
    sheet = sheet_of(tmp_path / "results.xlsx", "Summary")
    assert values(sheet)[1:] == [["notes", "a, 2"], ["budgets", None]]


def test_full_sheets_continue_on_the_next_with_each_row_once(tmp_path: Path) -> None:
    rows = created(5)
    xlsx = tmp_path / "results.xlsx"
    write_workbook(write_results(tmp_path / "results.csv", rows), xlsx, {}, rows_per_sheet=2)
    book = load_workbook(xlsx)
    assert book.sheetnames == ["Rows", "Rows 2", "Rows 3", "Summary", "Help"]
    seen = []
    for name, last in [("Rows", 3), ("Rows 2", 3), ("Rows 3", 2)]:
        sheet = book[name]
        assert isinstance(sheet, Worksheet)
        assert (sheet.auto_filter.ref, sheet.freeze_panes) == (f"A1:{LAST}{last}", "A2")
        table = values(sheet)
        assert table[0] == [*COLUMNS]
        seen += [row[0] for row in table[1:]]
    assert seen == ["s0", "s1", "s2", "s3", "s4"]


def test_a_full_last_sheet_is_not_followed_by_an_empty_one(tmp_path: Path) -> None:
    rows = created(4)
    xlsx = tmp_path / "results.xlsx"
    write_workbook(write_results(tmp_path / "results.csv", rows), xlsx, {}, rows_per_sheet=2)
    assert load_workbook(xlsx).sheetnames == ["Rows", "Rows 2", "Summary", "Help"]


@pytest.mark.parametrize("rows_per_sheet", [0, EXCEL_ROWS])
def test_rows_per_sheet_must_fit_a_sheet(tmp_path: Path, rows_per_sheet: int) -> None:
    path = write_results(tmp_path / "results.csv", created(1))
    with pytest.raises(ValueError, match="rows_per_sheet must be from 1 to 1,048,575"):
        write_workbook(path, tmp_path / "results.xlsx", {}, rows_per_sheet=rows_per_sheet)


def test_a_file_that_is_not_a_result_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("Student ID,Teacher ID\ns,t\n", encoding="utf-8")
    with pytest.raises(InputError, match="does not end with them"):
        write_workbook(path, tmp_path / "results.xlsx", {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]


def test_a_failure_while_rows_are_written_leaves_no_workbook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = created(5)
    path = write_results(tmp_path / "results.csv", rows)
    append = WriteOnlyWorksheet.append
    calls = []

    def failing(sheet: WriteOnlyWorksheet, row: object) -> None:
        calls.append(row)
        if len(calls) == 3:
            raise OSError("No space left on device")
        append(sheet, row)

    monkeypatch.setattr(WriteOnlyWorksheet, "append", failing)
    with pytest.raises(OSError, match="No space left"):
        write_workbook(path, tmp_path / "results.xlsx", {})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv"]


def test_a_failure_while_saving_keeps_the_previous_workbook_and_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_results(tmp_path / "results.csv", [])
    xlsx = tmp_path / "results.xlsx"
    xlsx.write_bytes(b"the previous workbook")
    written = []

    def failing(book: Workbook, filename: Path) -> None:
        Path(filename).write_bytes(b"PK\x03\x04 half a zip")
        written.append(Path(filename).name)
        raise OSError("No space left on device")

    monkeypatch.setattr(Workbook, "save", failing)
    with pytest.raises(OSError, match="No space left"):
        write_workbook(path, xlsx, {})
    assert written == [".results.xlsx.partial"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.csv", "results.xlsx"]
    assert xlsx.read_bytes() == b"the previous workbook"
