"""Row checks as the run makes them: ``Checks.judge`` (scope, cells, resolution, duplicates)
with ids as written, and the column finding of :mod:`importer.validate`."""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from importer.errors import InputError
from importer.models import Issue, Pair, SourceRow, Status
from importer.sandbox import DEMO_LOCATION
from importer.validate import Judgement, RowValidator, SeenPairs, column_index, find_column
from tests.conftest import demo_settings
from tests.helpers import STUDENT_TEACHER, judge_for

STUDENT = "67a349a79b28947ec1f60001"
STUDENT_2 = "67a349a79b28947ec1f60002"
TEACHER = "cTeacher000000000001"


def judge(strict: bool = False) -> Callable[[SourceRow], Judgement]:
    """A fresh run's judge of rows with the Student ID then the Teacher ID."""
    return judge_for(demo_settings(Path(), strict_ids=strict), ("Student ID", "Teacher ID"))


def sent(pair: Pair) -> Judgement:
    """The judgement of a clean row of the demo location: its pair is sent."""
    return Judgement(DEMO_LOCATION, STUDENT_TEACHER, pair=pair)


def validator(
    strict: bool = False, seen_limit: int = 50_000, seen: SeenPairs | None = None, scope: str = ""
) -> RowValidator:
    """The row checks of one association alone (``examine``, ``settle``: what judge calls)."""
    return RowValidator(
        STUDENT_TEACHER,
        first_index=0,
        second_index=1,
        first_column="Student ID",
        second_column="Teacher ID",
        strict_ids=strict,
        seen_limit=seen_limit,
        seen=seen,
        scope=scope,
    )


@pytest.mark.parametrize(
    ("cells", "numeric", "code"),
    [
        (("", TEACHER), (), "first_id_blank"),
        ((STUDENT, ""), (), "second_id_blank"),
        ((STUDENT, "cTeacher 00000000001"), (), "second_id_malformed"),
        ((STUDENT + "\x07", TEACHER), (), "first_id_malformed"),
        ((STUDENT, TEACHER), (0,), "first_id_number"),
        ((TEACHER, TEACHER), (), "same_record"),
        ((STUDENT, "teacher1@example.edu"), (), "second_id_email"),
        ((STUDENT, "+15550100001"), (), "second_id_phone"),
        ((STUDENT, "555-010-0002"), (), "second_id_phone"),
    ],
)
def test_invalid_rows_get_a_code_and_a_message_naming_the_column(
    cells: tuple[str, str], numeric: tuple[int, ...], code: str
) -> None:
    verdict = judge()(SourceRow(2, cells, numeric=frozenset(numeric)))
    assert verdict.pair is None
    assert verdict.outcome is not None
    assert verdict.outcome.status is Status.INVALID
    assert verdict.outcome.error_code == code
    if code != "same_record":
        assert "column '" in verdict.outcome.error


def test_a_short_or_long_row_is_sent_with_a_warning_when_its_id_cells_are_there() -> None:
    short = Issue("short_row", "the row has 2 cells but the header has 4")
    verdict = judge()(SourceRow(4, (STUDENT, TEACHER), (short,), present=2))
    assert verdict.pair == Pair(STUDENT, TEACHER)
    assert [w.message for w in verdict.warnings] == [
        "the row has 2 cells but the header has 4; the missing cells are read as empty"
    ]
    long = Issue("long_row", "the row has 5 cells but the header has 2")
    verdict = judge()(SourceRow(5, (STUDENT_2, TEACHER), (long,)))
    assert (verdict.pair, verdict.warnings) == (Pair(STUDENT_2, TEACHER), (long,))


def test_a_short_row_without_an_id_cell_is_invalid_and_says_which() -> None:
    short = Issue("short_row", "the row has 1 cell but the header has 4")
    outcome = judge()(SourceRow(4, (STUDENT, ""), (short,), present=1)).outcome
    assert outcome is not None
    assert (outcome.status, outcome.error_code, outcome.error) == (
        Status.INVALID,
        "short_row",
        "the row has 1 cell but the header has 4: the 'Teacher ID' cell is missing",
    )


def test_a_clean_row_becomes_a_pair() -> None:
    verdict = judge()(SourceRow(2, (STUDENT, TEACHER)))
    assert verdict == sent(Pair(STUDENT, TEACHER))


def test_shape_mismatch_is_a_warning_unless_strict() -> None:
    row = SourceRow(2, (TEACHER, STUDENT))
    lenient = judge()(row)
    assert lenient.pair == Pair(TEACHER, STUDENT)
    assert [w.code for w in lenient.warnings] == ["first_id_shape", "second_id_shape"]
    strict = judge(strict=True)(row)
    assert strict.outcome is not None
    assert strict.outcome.error_code == "first_id_shape"
    assert "check the column order" in strict.outcome.error


def test_duplicates_name_the_first_row_and_only_pairs_count() -> None:
    judge_row = judge()
    assert judge_row(SourceRow(2, (STUDENT, TEACHER))).pair is not None
    assert judge_row(SourceRow(3, (STUDENT_2, TEACHER))).pair is not None
    duplicate = judge_row(SourceRow(7, (STUDENT, TEACHER))).outcome
    assert duplicate is not None
    assert duplicate.status is Status.DUPLICATE_ROW
    assert duplicate.error == "same pair as row 2; only row 2 is sent"


def _settled(limit: int, pairs: list[tuple[int, Pair]]) -> list[str]:
    settle = validator(seen_limit=limit).settle
    return [
        (outcome.error if (outcome := settle(number, pair)) else "new") for number, pair in pairs
    ]


@pytest.mark.parametrize("limit", [1, 2, 7, 100])
def test_duplicates_are_the_same_with_pairs_kept_on_disk_past_the_limit(limit: int) -> None:
    # pairs drawn with many repeats, some a long way apart (many moves to disk between them),
    # and the same pair twice in one row (as --split makes it): answered as with all in memory
    draw = random.Random(limit)
    students = [f"67a349a79b28947ec1f6{n:04x}" for n in range(40)]
    teachers = [f"cTeacher{n:012d}" for n in range(25)]
    pairs = [(2 + n, Pair(draw.choice(students), draw.choice(teachers))) for n in range(3000)]
    pairs.insert(1500, (1501, pairs[1499][1]))
    in_memory = _settled(10**9, pairs)
    assert in_memory.count("new") < 1000 < len(pairs)  # the draw has duplicates to find
    assert "same pair as row 2; only row 2 is sent" in in_memory
    assert _settled(limit, pairs) == in_memory


def _full_disk() -> sqlite3.Connection:
    """A database that takes no more than two pages: a temporary folder that is full."""
    database = sqlite3.connect(":memory:", isolation_level=None)
    database.execute("PRAGMA max_page_count = 2")
    return database


def test_duplicates_stay_exact_in_memory_when_the_temporary_folder_is_full() -> None:
    pairs = [(2 + n, Pair(STUDENT, f"cTeacher{n % 40:012d}")) for n in range(300)]
    in_memory = _settled(10**9, pairs)
    settle = validator(seen=SeenPairs(limit=7, database=_full_disk)).settle
    got = [(outcome.error if (outcome := settle(n, pair)) else "new") for n, pair in pairs]
    assert got == in_memory
    assert got.count("new") == 40


def test_one_set_of_pairs_serves_every_scope_and_keeps_them_apart() -> None:
    seen = SeenPairs(limit=3)
    made = {scope: validator(seen=seen, scope=scope) for scope in ("location A", "location B")}
    pair = Pair(STUDENT, TEACHER)
    assert made["location A"].settle(2, pair) is None
    assert made["location B"].settle(3, pair) is None  # another location: its own pair
    again = made["location B"].settle(9, pair)
    assert again is not None and again.error == "same pair as row 3; only row 3 is sent"


@pytest.mark.parametrize(
    ("first", "second", "warned"),
    [
        (STUDENT, TEACHER, []),
        (STUDENT.upper(), TEACHER, []),
        (STUDENT[:-1] + "g", TEACHER, ["first_id_shape"]),  # not hexadecimal
        (STUDENT, "cTeacher00000000000\u0661", ["second_id_shape"]),  # an Arabic-Indic 1
        (STUDENT, TEACHER + "1", ["second_id_shape"]),
        (STUDENT + "0", TEACHER[:-1], ["first_id_shape", "second_id_shape"]),
    ],
)
def test_only_ids_of_the_usual_shape_pass_without_a_warning(
    first: str, second: str, warned: list[str]
) -> None:
    verdict = validator().examine(SourceRow(2, (first, second)))
    assert verdict.pair == Pair(first, second)
    assert [warning.code for warning in verdict.warnings] == warned


def test_an_invalid_row_does_not_hide_a_later_valid_one() -> None:
    judge_row = judge()
    assert judge_row(SourceRow(2, (STUDENT, ""))).outcome
    assert judge_row(SourceRow(3, (STUDENT, TEACHER))).pair == Pair(STUDENT, TEACHER)


def test_column_index_is_exact_then_case_insensitive_and_names_what_was_found() -> None:
    header = ("Student ID", "teacher id")
    assert column_index(header, "Student ID", "f.csv", "first") == 0
    assert column_index(header, "Teacher ID", "f.csv", "second") == 1
    with pytest.raises(InputError) as caught:
        column_index(header, "Teacher", "f.csv", "second")
    assert str(caught.value) == (
        "f.csv: there is no column 'Teacher' for the second ids. Columns found: 'Student ID', "
        "'teacher id'. Set second_column in config.yaml or --second-column to one of them (or "
        "to its letter, such as B)."
    )


@pytest.mark.parametrize(
    ("header", "name", "expected"),
    [
        (("id", "other", "x"), "B", 1),
        (("id", "other", "x"), "b", 1),
        (("id", "other", "x"), "3", 2),
        (("id", "A", "x"), "A", 1),  # a title wins over the letter
        (("id", "1", "x"), "1", 1),  # and over the position
        (tuple(f"c{n}" for n in range(30)), "AB", 27),
        (("id", "other"), "C", None),  # past the last column
        (("id", "other"), "0", None),
    ],
)
def test_a_column_is_named_by_title_else_letter_else_position(
    header: tuple[str, ...], name: str, expected: int | None
) -> None:
    assert find_column(header, name) == expected


def test_only_a_needed_column_may_not_share_its_title() -> None:
    header = ("Student ID", "Name", "Teacher ID", "Name_2")
    duplicates = {"Name": (2, 4)}
    assert column_index(header, "Teacher ID", "f.csv", "second", duplicates) == 2
    with pytest.raises(InputError) as caught:
        column_index(header, "name", "f.csv", "first", duplicates)
    assert str(caught.value) == (
        "f.csv: 2 columns are called 'name' (column B and column D), so the first ids could be "
        "in either. Rename one of them, or name the column by its letter: --first-column B."
    )


def test_an_email_in_an_id_column_says_how_to_look_it_up() -> None:
    outcome = judge()(SourceRow(2, (STUDENT, "teacher1@example.edu"))).outcome
    assert outcome is not None
    assert outcome.error == (
        "the Teacher id in column 'Teacher ID' looks like an e-mail address "
        "(teacher1@example.edu), not an id; if the column holds e-mail addresses, look them "
        "up: second_lookup: email (or --second-lookup email)"
    )


@pytest.mark.parametrize("value", ["x", "-", "n/a", "12345", "cTeacher0"])
def test_a_value_too_short_to_be_an_id_is_invalid(value: str) -> None:
    outcome = judge()(SourceRow(2, (STUDENT, value))).outcome
    assert outcome is not None
    assert (outcome.error_code, outcome.error) == (
        "second_id_malformed",
        f"the Teacher id in column 'Teacher ID' ({value}) is too short to be an id (ids have 20 "
        "or more characters); put the record's id in the cell",
    )


def test_an_upper_case_hexadecimal_id_has_the_shape_of_one() -> None:
    verdict = judge()(SourceRow(2, (STUDENT.upper(), TEACHER)))
    assert verdict == sent(Pair(STUDENT.upper(), TEACHER))  # sent as written
