""":class:`importer.validate.Checks`, one step at a time, as the run's pre-flight calls them:
scope, questions, resolution, the order of the columns, a row's judgement, what
--skip-existing would read. Look-ups go to the in-process sandbox (test_check.py runs the
same steps end to end through ``run_import``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from importer.errors import AuthError, InputError
from importer.models import Outcome, Pair, SourceRow, Status
from importer.sandbox import DEMO_LOCATION, OTHER_LOCATION, student_id, teacher_id
from importer.validate import Checks, Judgement, Question
from tests.conftest import demo_settings
from tests.helpers import STUDENT_TEACHER, bound_checks, lookups_for

pytestmark = pytest.mark.anyio

IDS = ("Student ID", "Teacher ID")
KEYS = ("Student email", "Teacher phone")


def rows(*cells: tuple[str, ...]) -> list[SourceRow]:
    """Rows numbered from 2, below the header."""
    return [SourceRow(number, values) for number, values in enumerate(cells, start=2)]


def by_keys(**changes: object) -> Checks:
    """Students by their e-mail, teachers by their phone."""
    settings = demo_settings(
        Path(),
        first_column=KEYS[0],
        first_lookup="student_email",
        second_column=KEYS[1],
        second_lookup="phone",
        **changes,
    )
    return bound_checks(settings, KEYS)


def per_row(**changes: object) -> Checks:
    """Each row names its location and association."""
    settings = demo_settings(
        Path(),
        location_id=None,
        association=None,
        location_column="Location",
        association_column="Association",
        **changes,
    )
    checks = Checks(settings, "in.csv")
    checks.bind(("Location", "Association", *IDS))
    checks.associations[DEMO_LOCATION, "student_teacher"] = STUDENT_TEACHER
    checks.associations[DEMO_LOCATION, "no_such_thing"] = None
    return checks


def test_one_scope_serves_every_row_when_the_settings_name_it() -> None:
    checks = bound_checks(demo_settings(Path()), IDS)
    key, association, problem = checks.scope(SourceRow(2, ("anything", "at all")))
    assert (key, association, problem) == (
        (DEMO_LOCATION, "student_teacher"),
        STUDENT_TEACHER,
        None,
    )
    assert not checks.per_row and checks.columns == (0, 1)


def test_a_row_naming_its_scope_gets_it_or_the_reason_it_has_none() -> None:
    checks = per_row()
    checks.refused[OTHER_LOCATION] = AuthError("the token may not access it")
    scope = checks.scope
    assert scope(SourceRow(2, (DEMO_LOCATION, "student_teacher", "a", "b"))) == (
        (DEMO_LOCATION, "student_teacher"),
        STUDENT_TEACHER,
        None,
    )
    _, none, blank = scope(SourceRow(3, ("", "student_teacher", "a", "b")))
    assert none is None and blank == Outcome(
        Status.INVALID,
        error_code="location_blank",
        error="the location in column 'Location' is blank",
    )
    _, _, unknown = scope(SourceRow(4, (DEMO_LOCATION, "no_such_thing", "a", "b")))
    assert unknown == Outcome(
        Status.INVALID,
        error_code="association_not_found",
        error=f"the association 'no_such_thing' does not exist in location {DEMO_LOCATION} "
        f"(relimport associations --location-id {DEMO_LOCATION} lists them)",
    )
    _, _, refused = scope(SourceRow(5, (OTHER_LOCATION, "student_teacher", "a", "b")))
    assert refused is not None
    assert (refused.status, refused.error_code) == (Status.NOT_SENT, "location_refused")
    assert "give that location its token (token_env_by_location)" in refused.error


def test_scope_keys_count_rows_and_collect_each_scope_once() -> None:
    checks = per_row()
    count, keys = checks.scope_keys(
        iter(
            [
                SourceRow(2, (DEMO_LOCATION, "student_teacher", "a", "b")),
                SourceRow(3, (DEMO_LOCATION, "student_teacher", "c", "d")),
                SourceRow(4, (OTHER_LOCATION, "x", "e", "f")),
                SourceRow(5, ("", "x", "g", "h")),  # names no location: no scope
            ]
        )
    )
    assert count == 4
    assert keys == {(DEMO_LOCATION, "student_teacher"), (OTHER_LOCATION, "x")}


def test_the_questions_are_each_distinct_key_once_and_invalid_cells_ask_nothing() -> None:
    keys, records = by_keys().questions(
        iter(
            rows(
                ("ana.ruiz@example.edu", "+15550100001"),
                ("ANA.RUIZ@example.edu", "+1 555-010-0001"),  # the same two, written otherwise
                ("ben.okafor@example.edu", "12"),  # a phone that is none: nothing asked
                ("", "+15550100002"),  # a blank key: nothing asked
            )
        )
    )
    assert keys == [
        Question(
            DEMO_LOCATION,
            f"property:{STUDENT_TEACHER.first_object_key}:student_email",
            "ana.ruiz@example.edu",
        ),
        Question(DEMO_LOCATION, "phone", "+15550100001"),
    ]
    assert records == []  # ids are not checked unless check_records


def test_record_checks_ask_about_each_id_once() -> None:
    checks = bound_checks(demo_settings(Path(), check_records=True), IDS)
    keys, records = checks.questions(
        iter(rows((student_id(1), teacher_id(1)), (student_id(1), teacher_id(2))))
    )
    assert keys == []
    assert records == [
        Question(DEMO_LOCATION, f"record:{STUDENT_TEACHER.first_object_key}", student_id(1)),
        Question(DEMO_LOCATION, "record:contact", teacher_id(1)),
        Question(DEMO_LOCATION, "record:contact", teacher_id(2)),
    ]


async def test_natural_keys_resolve_to_the_ids_the_api_found() -> None:
    checks = by_keys()
    file = rows(
        ("ana.ruiz@example.edu", "+15550100001"),
        ("nobody@example.edu", "+15550100002"),
        ("ben.okafor@example.edu", "+1 555 010 0002"),
        ("BEN.OKAFOR@example.edu", "555-010-0002"),  # the same records: a duplicate
    )
    keys, _ = checks.questions(iter(file))
    lookups = lookups_for(checks.settings)
    await lookups.ask(keys, "look-ups")
    judged = [checks.judge(row, lookups) for row in file]
    assert judged[0] == Judgement(
        DEMO_LOCATION, STUDENT_TEACHER, pair=Pair(student_id(1), teacher_id(1))
    )
    assert judged[1].pair is None and judged[1].outcome == Outcome(
        Status.UNRESOLVED,
        error_code="first_unresolved",
        error=f"no Student has the student_email nobody@example.edu in location {DEMO_LOCATION}"
        " (column 'Student email'); fix the value or add the record, then re-run",
        first_id="",
        second_id=teacher_id(2),
    )
    assert judged[2].pair == Pair(student_id(2), teacher_id(2))
    assert judged[3].outcome == Outcome(
        Status.DUPLICATE_ROW,
        error_code="duplicate_row",
        error="same pair as row 4; only row 4 is sent",
        first_id=student_id(2),
        second_id=teacher_id(2),
    )
    assert lookups.unkept == {(DEMO_LOCATION, "look-ups"): 1}  # nobody@: asked again next run


async def test_record_checks_tell_a_missing_record_from_one_of_the_other_kind() -> None:
    checks = bound_checks(demo_settings(Path(), check_records=True), IDS)
    missing = "ffffffffffffffffffffffff"
    file = rows(
        (student_id(1), teacher_id(2)),
        (missing, teacher_id(2)),
        (student_id(3), student_id(4)),  # a student where a teacher belongs
        (teacher_id(5), student_id(5)),  # both the wrong way round
    )
    _, records = checks.questions(iter(file))
    lookups = lookups_for(checks.settings)
    await lookups.ask(records, "record checks")
    await lookups.ask(checks.other_kind_questions(lookups, records), "record checks")
    validator = checks.validator((DEMO_LOCATION, "student_teacher"), STUDENT_TEACHER)

    def resolve(first: str, second: str) -> Pair | Outcome:
        return checks.resolve(DEMO_LOCATION, validator, Pair(first, second), lookups)

    assert resolve(student_id(1), teacher_id(2)) == Pair(student_id(1), teacher_id(2))
    not_found = resolve(missing, teacher_id(2))
    assert isinstance(not_found, Outcome)
    assert (not_found.status, not_found.error_code) == (Status.INVALID, "first_record_not_found")
    assert not_found.error == (
        f"no Student (custom_objects.students) record has the id {missing} in location "
        f"{DEMO_LOCATION} (column 'Student ID')"
    )
    wrong = resolve(student_id(3), student_id(4))
    assert isinstance(wrong, Outcome) and wrong.error_code == "second_record_wrong_kind"
    assert wrong.error == (
        f"the id {student_id(4)} in column 'Teacher ID' is a record of Student "
        "(custom_objects.students), not of Teacher (contact); check the column order"
    )
    swapped = resolve(teacher_id(5), student_id(5))
    assert isinstance(swapped, Outcome) and swapped.error_code == "pair_swapped"
    assert swapped.error == (
        f"the two ids are the wrong way round: {teacher_id(5)} is a record of Teacher and "
        f"{student_id(5)} one of Student; swap them in the file"
    )


def test_ids_not_checked_are_sent_as_written_without_asking() -> None:
    checks = bound_checks(demo_settings(Path()), IDS)
    validator = checks.validator((DEMO_LOCATION, "student_teacher"), STUDENT_TEACHER)
    values = Pair("not-even-an-id-shape", "nor-this-one-at-all")
    assert checks.resolve(DEMO_LOCATION, validator, values, lookups_for(checks.settings)) is values


def survey(checks: Checks, file: list[SourceRow]) -> None:
    """What the run's survey and pre-flight do before judging the order."""
    checks.scope_keys(iter(file))
    checks.count_shapes()


def refusal(checks: Checks) -> str:
    """Why :meth:`Checks.check_order` stops the run (it must)."""
    with pytest.raises(InputError) as caught:
        checks.check_order()
    return str(caught.value)


def test_id_shapes_stop_a_run_whose_columns_are_swapped_with_the_evidence() -> None:
    checks = bound_checks(demo_settings(Path()), IDS)
    survey(
        checks,
        rows(
            *[(teacher_id(n), student_id(n)) for n in range(1, 4)],
            (student_id(9), teacher_id(9)),
        ),
    )
    assert refusal(checks) == (
        "in.csv: the columns look swapped. In 3 rows the 'Student ID' column holds ids shaped "
        "like contact ids (20 letters and digits) and 'Teacher ID' ids shaped like "
        "custom_objects.students ids (24 hexadecimal characters); 1 rows fit the association's "
        "order. Run again with --swap (or set swap: true) to read them the other way round, or "
        "check the association. Nothing was sent. (If the ids are right as they are, "
        "--no-order-check sends them anyway.)"
    )


def test_columns_mostly_in_order_or_an_order_check_turned_off_go_ahead() -> None:
    in_order = rows(
        *[(student_id(n), teacher_id(n)) for n in range(1, 4)], (teacher_id(9), student_id(9))
    )
    checks = bound_checks(demo_settings(Path()), IDS)
    survey(checks, in_order)
    checks.check_order()  # 3 rows in order, 1 swapped: sent
    assert checks.evidence.by_shape == {"in_order": 3, "swapped": 1}
    unchecked = bound_checks(demo_settings(Path(), order_check=False), IDS)
    survey(unchecked, [SourceRow(2, (teacher_id(1), student_id(1)))])
    unchecked.check_order()
    assert not unchecked.shapes  # nothing counted: nothing judged


async def test_record_kinds_stop_a_swapped_run_where_shapes_cannot() -> None:
    checks = bound_checks(demo_settings(Path(), check_records=True, swap=True), IDS)
    file = rows(*[(student_id(n), teacher_id(n)) for n in range(1, 4)])
    # --swap reads the Teacher ID column as the first side: here it is wrong
    _, records = checks.questions(iter(file))
    lookups = lookups_for(checks.settings)
    await lookups.ask(records, "record checks")
    await lookups.ask(checks.other_kind_questions(lookups, records), "record checks")
    checks.count_kinds(lookups, records)
    assert checks.evidence.by_kind == {"first wrong": 3, "second wrong": 3}
    assert refusal(checks) == (
        "in.csv: the columns are swapped. Of the ids in 'Teacher ID', 3 are contact records and "
        "0 custom_objects.students records; of those in 'Student ID', 3 are "
        "custom_objects.students records and 0 contact records. Run again without --swap (or "
        "set swap: false). Nothing was sent."
    )


def test_record_sides_name_the_smaller_side_and_the_rows_to_send() -> None:
    checks = bound_checks(demo_settings(Path()), IDS)
    file = rows(
        (student_id(1), teacher_id(1)),
        (student_id(2), teacher_id(1)),
        (student_id(3), teacher_id(1)),
        (student_id(4), teacher_id(2)),
        ("", teacher_id(3)),  # invalid: not sent, not read
    )
    lookups = lookups_for(checks.settings)
    sides = checks.record_sides(iter(file), lookups)
    assert sides == {
        (DEMO_LOCATION, STUDENT_TEACHER.id): ({teacher_id(1), teacher_id(2)}, 4),
    }
    known = {Pair(student_id(4), teacher_id(2))}  # the ledger holds it: costs nothing
    again = bound_checks(demo_settings(Path()), IDS).record_sides(
        iter(file), lookups, known=lambda location, association, pair: pair in known
    )
    assert again == {(DEMO_LOCATION, STUDENT_TEACHER.id): ({teacher_id(1)}, 3)}


def test_a_row_without_a_scope_or_with_bad_cells_is_judged_without_resolving() -> None:
    checks = per_row()
    lookups = lookups_for(checks.settings)
    blank = checks.judge(
        SourceRow(2, ("", "student_teacher", student_id(1), teacher_id(1))), lookups
    )
    assert blank.association is None and blank.outcome is not None
    assert blank.outcome.error_code == "location_blank"
    bad = checks.judge(SourceRow(3, (DEMO_LOCATION, "student_teacher", "", teacher_id(1))), lookups)
    assert (bad.location, bad.association, bad.pair) == (DEMO_LOCATION, STUDENT_TEACHER, None)
    assert bad.outcome is not None and bad.outcome.error_code == "first_id_blank"
    shape = checks.judge(
        SourceRow(4, (DEMO_LOCATION, "student_teacher", teacher_id(1), teacher_id(2))), lookups
    )
    assert shape.pair == Pair(teacher_id(1), teacher_id(2))
    assert [warning.code for warning in shape.warnings] == ["first_id_shape"]
