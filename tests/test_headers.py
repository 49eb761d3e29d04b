"""Headers as people write them: a title line above, Excel's sep= line, no header at all,
columns by letter or position, titles used twice, rows shorter or longer than the header."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook

from importer.config import ConfigError, load_settings
from importer.read import HeaderRule, open_table
from tests.conftest import read_results
from tests.helpers import invoke

STUDENT, STUDENT_2 = "67a349a79b28947ec1f60001", "67a349a79b28947ec1f60002"
TEACHER = "cTeacher000000000002"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _rows(path: Path) -> list[tuple[str, str, str]]:
    return [(r["row"], r["status"], r["error"]) for r in read_results(path)]


def test_a_title_line_above_the_header_is_found_with_a_notice(in_repo: Path) -> None:
    _write(
        in_repo / "export.csv",
        f"Export from SchoolSys 2024-09-01\n\nStudent ID;Teacher ID\n{STUDENT};{TEACHER}\n",
    )
    code, _, err = invoke("validate", "export.csv")
    assert code == 0
    assert err == (
        "export.csv: the columns are in row 3, not in row 1 (which holds 'Export from "
        "SchoolSys 2024-09-01'): row 3 is read as the header and the rows above it are "
        "skipped. To say so, give --header-row 3.\n"
    )
    assert _rows(in_repo / "results/export-dry-run.csv") == [("4", "valid", "")]


def test_header_row_says_where_the_header_is(in_repo: Path) -> None:
    _write(in_repo / "export.csv", f"Export\nStudent ID,Teacher ID\n{STUDENT},{TEACHER}\n")
    code, _, err = invoke("validate", "export.csv", "--header-row", "2")
    assert (code, err) == (0, "")
    assert _rows(in_repo / "results/export-dry-run.csv") == [("3", "valid", "")]
    code, _, err = invoke("validate", "export.csv", "--header-row", "7")
    assert (code, err) == (
        2,
        "Error: export.csv: there is no row 7 (--header-row): the file ends at row 3. Give "
        "the number of the header's row as your spreadsheet program shows it.\n",
    )


def test_excels_sep_line_names_the_delimiter_and_is_not_a_row(in_repo: Path) -> None:
    _write(in_repo / "sep.csv", f"sep=;\nStudent ID;Teacher ID\n{STUDENT};{TEACHER}\n")
    code, _, err = invoke("validate", "sep.csv")
    assert (code, err) == (0, "")
    assert _rows(in_repo / "results/sep-dry-run.csv") == [("2", "valid", "")]  # as Excel shows


def test_a_file_without_a_header_names_its_columns_by_letter_or_position(
    in_repo: Path,
) -> None:
    _write(in_repo / "bare.csv", f"{STUDENT},{TEACHER},Ana\n{STUDENT_2},{TEACHER},Ben\n")
    code, _, err = invoke(
        "validate", "bare.csv", "--no-header", "--first-column", "A", "--second-column", "2"
    )
    assert (code, err) == (0, "")
    results = read_results(in_repo / "results/bare-dry-run.csv")
    assert [(r["A"], r["row"], r["status"]) for r in results] == [
        (STUDENT, "1", "valid"),
        (STUDENT_2, "2", "valid"),
    ]


def test_a_short_row_without_a_header_is_measured_against_the_first_rows(
    in_repo: Path,
) -> None:
    _write(in_repo / "bare.csv", f"{STUDENT},{TEACHER},Ana\n{STUDENT_2},{TEACHER}\n")
    args = ("validate", "bare.csv", "--no-header", "--first-column", "A", "--second-column", "B")
    code, _, err = invoke(*args)
    assert (code, err) == (
        0,
        "bare.csv: row 2: warning: the row has 2 cells but the first rows have 3 columns; the "
        "missing cells are read as empty.\n",
    )


def test_header_row_and_no_header_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="header_row and no_header are both set"):
        load_settings(config_path=None, flags={"header_row": 2, "no_header": True}, environ={})


def test_columns_by_letter_and_a_title_that_is_a_letter_wins(in_repo: Path) -> None:
    _write(in_repo / "letters.csv", f"Name,B,Teacher\nAna,{STUDENT},{TEACHER}\n")
    code, _, err = invoke("validate", "letters.csv", "--first-column", "B", "--second-column", "C")
    assert (code, err) == (0, "")  # B is the column titled B (the second), C is the third
    results = read_results(in_repo / "results/letters-dry-run.csv")
    assert [(r["first_id"], r["second_id"]) for r in results] == [(STUDENT, TEACHER)]


def test_a_title_used_twice_stops_only_when_the_run_needs_that_column(in_repo: Path) -> None:
    _write(
        in_repo / "twice.csv",
        f"Student ID,Teacher ID,Note,Note\n{STUDENT},{TEACHER},a,b\n",
    )
    code, _, err = invoke("validate", "twice.csv")
    assert code == 0
    assert err == (
        "twice.csv: 2 columns of the header (row 1) are called 'Note' (column 3 and column 4); "
        "the later ones are called 'Note_2'.\n"
    )
    assert list(read_results(in_repo / "results/twice-dry-run.csv")[0])[:4] == [
        "Student ID",
        "Teacher ID",
        "Note",
        "Note_2",
    ]
    _write(in_repo / "ids.csv", f"Student ID,Teacher ID,Student ID\n{STUDENT},{TEACHER},x\n")
    code, _, err = invoke("validate", "ids.csv")
    assert (code, err) == (
        2,
        "Error: ids.csv: 2 columns are called 'Student ID' (column A and column C), so the "
        "first ids could be in either. Rename one of them, or name the column by its letter: "
        "--first-column A.\n",
    )


def test_short_and_long_rows_with_their_ids_are_sent_with_a_warning(in_repo: Path) -> None:
    _write(
        in_repo / "ragged.csv",
        f"Student ID,Teacher ID,Name\n{STUDENT},{TEACHER}\n{STUDENT_2},{TEACHER},Ben,x\n"
        f"{STUDENT}\n",
    )
    code, _, _ = invoke("run", "ragged.csv")
    assert code == 1
    assert _rows(in_repo / "results/ragged-results.csv") == [
        (
            "2",
            "created",
            "warning: the row has 2 cells but the header has 3; the missing cells are read "
            "as empty",
        ),
        (
            "3",
            "created",
            "warning: the row has 4 cells but the header has 3; the cells after column 3 are "
            "ignored (the first is 'x'); a value that contains the delimiter must be in quotes",
        ),
        (
            "4",
            "invalid",
            "the row has 1 cell but the header has 3: the 'Teacher ID' cell is missing",
        ),
    ]


def test_a_workbook_with_title_rows_is_read_from_the_row_of_its_columns(
    in_repo: Path,
) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Relations, term 1"])
    sheet.merge_cells("A1:C1")
    sheet.append([])
    sheet.append(["Student ID", "Teacher ID", "Name"])
    sheet.append([STUDENT, TEACHER, "Ana"])
    book.save(in_repo / "book.xlsx")
    code, _, err = invoke("validate", "book.xlsx")
    assert code == 0
    assert "book.xlsx: the columns are in row 3, not in row 1" in err
    assert _rows(in_repo / "results/book-dry-run.csv") == [("4", "valid", "")]


@pytest.mark.parametrize(
    ("text", "delimiter"),
    [
        ("Title\na;b\n1;2\n", ";"),  # the title line has no delimiter: the header decides
        ("a\n1,5\n", ","),  # "a" is not the header looked for: the next row decides
    ],
)
def test_a_title_line_does_not_choose_the_delimiter(
    tmp_path: Path, text: str, delimiter: str
) -> None:
    path = _write(tmp_path / "in.csv", text)
    with open_table(path, header=HeaderRule(fits=lambda cells: "b" in cells)) as table:
        assert table.delimiter == delimiter
