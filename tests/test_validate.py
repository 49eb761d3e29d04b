from __future__ import annotations

import pytest

from importer.errors import InputError
from importer.models import Association, Issue, Pair, SourceRow, Status
from importer.validate import RowValidator, column_index

STUDENT = "67a349a79b28947ec1f60001"
STUDENT_2 = "67a349a79b28947ec1f60002"
TEACHER = "cTeacher000000000001"
ASSOCIATION = Association(
    id="67c1f2a3b4c5d6e7f8a90001",
    key="student_teacher",
    first_object_key="custom_objects.students",
    first_object_label="Student",
    second_object_key="contact",
    second_object_label="Teacher",
)


def validator(strict: bool = False) -> RowValidator:
    return RowValidator(
        ASSOCIATION,
        first_index=0,
        second_index=1,
        first_column="Student ID",
        second_column="Teacher ID",
        strict_ids=strict,
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
    verdict = validator().check(SourceRow(2, cells, numeric=frozenset(numeric)))
    assert verdict.pair is None
    assert verdict.outcome is not None
    assert verdict.outcome.status is Status.INVALID
    assert verdict.outcome.error_code == code
    if code != "same_record":
        assert "column '" in verdict.outcome.error


def test_reader_issues_make_the_row_invalid() -> None:
    row = SourceRow(4, (STUDENT, TEACHER), issues=(Issue("short_row", "row 4 has 1 cell"),))
    outcome = validator().check(row).outcome
    assert outcome is not None
    assert (outcome.status, outcome.error_code) == (Status.INVALID, "short_row")


def test_a_clean_row_becomes_a_pair() -> None:
    verdict = validator().check(SourceRow(2, (STUDENT, TEACHER)))
    assert verdict == type(verdict)(pair=Pair(STUDENT, TEACHER))


def test_shape_mismatch_is_a_warning_unless_strict() -> None:
    row = SourceRow(2, (TEACHER, STUDENT))
    lenient = validator().check(row)
    assert lenient.pair == Pair(TEACHER, STUDENT)
    assert [w.code for w in lenient.warnings] == ["first_id_shape", "second_id_shape"]
    strict = validator(strict=True).check(row)
    assert strict.outcome is not None
    assert strict.outcome.error_code == "first_id_shape"
    assert "check the column order" in strict.outcome.error


def test_duplicates_name_the_first_row_and_only_pairs_count() -> None:
    check = validator().check
    assert check(SourceRow(2, (STUDENT, TEACHER))).pair is not None
    assert check(SourceRow(3, (STUDENT_2, TEACHER))).pair is not None
    duplicate = check(SourceRow(7, (STUDENT, TEACHER))).outcome
    assert duplicate is not None
    assert duplicate.status is Status.DUPLICATE_ROW
    assert duplicate.error == "same pair as row 2; only row 2 is sent"


def test_an_invalid_row_does_not_hide_a_later_valid_one() -> None:
    check = validator().check
    assert check(SourceRow(2, (STUDENT, TEACHER), issues=(Issue("long_row", "x"),))).outcome
    assert check(SourceRow(3, (STUDENT, TEACHER))).pair == Pair(STUDENT, TEACHER)


def test_column_index_is_exact_then_case_insensitive_and_names_what_was_found() -> None:
    header = ("Student ID", "teacher id")
    assert column_index(header, "Student ID", "f.csv", "first") == 0
    assert column_index(header, "Teacher ID", "f.csv", "second") == 1
    with pytest.raises(InputError) as caught:
        column_index(header, "Teacher", "f.csv", "second")
    assert str(caught.value) == (
        "f.csv: there is no column 'Teacher' for the second ids. Columns found: 'Student ID', "
        "'teacher id'. Set second_column in config.yaml or --second-column to one of them."
    )


def test_an_email_in_an_id_column_says_how_to_look_it_up() -> None:
    outcome = validator().check(SourceRow(2, (STUDENT, "teacher1@example.edu"))).outcome
    assert outcome is not None
    assert outcome.error == (
        "the Teacher id in column 'Teacher ID' looks like an e-mail address "
        "(teacher1@example.edu), not an id; if the column holds e-mail addresses, look them "
        "up: second_lookup: email (or --second-lookup email)"
    )
