"""Knowing before sending: natural keys, record checks, swapped columns, several locations and
associations, existing relations, and the dry run's plan, against the in-process sandbox."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from importer.config import load_settings
from importer.errors import ConfigError, InputError
from importer.models import Status
from importer.run import run_import, run_undo
from importer.sandbox import (
    DEMO_LOCATION,
    DEMO_TOKEN,
    OPPORTUNITIES_CONTACTS,
    OTHER_LOCATION,
    OTHER_TOKEN,
    STUDENTS_KEY,
    Limits,
    Record,
    Sandbox,
    demo_seed,
    serve,
    student_id,
    teacher_id,
)
from importer.validate import SHAPES, id_shape
from tests.conftest import FakeTime, demo_settings, read_results, write_csv
from tests.helpers import RefusingSearch, grid, grid_file, run_noting, seeded

CREATE = "POST /associations/relations"
CONTACT_SEARCH = "POST /contacts/search"
RECORD_SEARCH = "POST /objects/{schemaKey}/records/search"
CONTACT = "GET /contacts/{contactId}"
STUDENT = "GET /objects/{schemaKey}/records/{id}"


def twin_seed() -> Sandbox:
    """The demo data, plus a 13th student whose e-mail is also student 12's, and a 9th teacher
    who shares teacher 8's phone (both ambiguous)."""
    seed = demo_seed()
    demo = seed.locations[0]
    twins = (
        Record(
            STUDENTS_KEY,
            student_id(13),
            {"properties": {"name": "Luis Ortega II", "student_email": "luis.ortega@example.edu"}},
        ),
        Record("contact", teacher_id(9), {"email": "t9@example.edu", "phone": "+15550100008"}),
    )
    return Sandbox(
        replace(
            seed, locations=(replace(demo, records=(*demo.records, *twins)), *seed.locations[1:])
        )
    )


# (student cell, teacher cell, status, error_code, first_id, second_id)
BY_KEYS = [
    (
        "ana.ruiz@example.edu",
        "+15550100001",
        "already_exists",
        "",
        student_id(1),
        teacher_id(1),
    ),
    ("BEN.OKAFOR@example.edu", "+1 555-010-0002", "created", "", student_id(2), teacher_id(2)),
    ("chloe.martin@example.edu", "(555) 010-0003", "created", "", student_id(3), teacher_id(3)),
    ("diego.lopez@example.edu", "555.010.0004", "created", "", student_id(4), teacher_id(4)),
    ("emma.schmidt@example.edu", "1-555-010-0005", "created", "", student_id(5), teacher_id(5)),
    ("nobody@example.edu", "+15550100001", "unresolved", "first_unresolved", "", teacher_id(1)),
    (
        "farid.haddad@example.edu",
        "+1 555 010 9999",
        "unresolved",
        "second_unresolved",
        student_id(6),
        "",
    ),
    ("luis.ortega@example.edu", "+15550100001", "ambiguous", "first_ambiguous", "", teacher_id(1)),
    ("grace.kim@example.edu", "12", "invalid", "second_key_malformed", "", ""),
    ("", "+15550100001", "invalid", "first_key_blank", "", ""),
    (
        "hugo.silva@example.edu",
        "555 010 0008",
        "ambiguous",
        "second_ambiguous",
        student_id(8),
        "",
    ),
    (
        "ben.okafor@example.edu",
        "555 010 0002",
        "duplicate_row",
        "duplicate_row",
        student_id(2),
        teacher_id(2),
    ),
]


def test_natural_keys_resolve_once_each_and_every_status_has_its_code(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "keys.csv",
        [["Student email", "Teacher phone"], *[[a, b] for a, b, *_ in BY_KEYS]],
    )
    sandbox = twin_seed()
    settings = demo_settings(
        tmp_path,
        first_column="Student email",
        first_lookup="student_email",
        second_column="Teacher phone",
        second_lookup="phone",
    )
    summary = run_import(path, settings, transport=sandbox.transport())
    rows = read_results(summary.result_path)
    got = [(r["status"], r["error_code"], r["first_id"], r["second_id"]) for r in rows]
    assert got == [tuple(expected[2:]) for expected in BY_KEYS]
    by_route = sandbox.stats(DEMO_LOCATION).by_route
    # each distinct key once, ignoring case and phone formats; rows found invalid by their
    # cells ask nothing: 9 e-mails (ana, ben twice, chloe, diego, emma, nobody, farid, luis,
    # hugo), 7 phones (0001 three times, 0002 twice, 0003, 0004, 0005, 9999, 0008)
    assert by_route[RECORD_SEARCH] == 9
    assert by_route[CONTACT_SEARCH] == 7
    assert by_route[CREATE] == 5  # the resolved, distinct pairs only
    assert summary.exit_code == 1


def test_record_checks_make_missing_and_wrong_kind_records_invalid(tmp_path: Path) -> None:
    rows = [
        [student_id(3), teacher_id(3), "created", ""],
        [student_id(999), teacher_id(3), "invalid", "first_record_not_found"],
        [student_id(4), "cNoSuchContact000001", "invalid", "second_record_not_found"],
        [teacher_id(4), teacher_id(5), "invalid", "first_record_wrong_kind"],
        [student_id(5), student_id(6), "invalid", "second_record_wrong_kind"],
        [teacher_id(6), student_id(6), "invalid", "pair_swapped"],
        [student_id(3), teacher_id(4), "created", ""],
    ]
    path = write_csv(tmp_path / "in.csv", [["Student ID", "Teacher ID"], *[r[:2] for r in rows]])
    sandbox = Sandbox()
    settings = demo_settings(tmp_path, check_records=True, order_check=False)
    summary = run_import(path, settings, transport=sandbox.transport())
    results = read_results(summary.result_path)
    assert [(r["status"], r["error_code"]) for r in results] == [(r[2], r[3]) for r in rows]
    by_route = sandbox.stats(DEMO_LOCATION).by_route
    assert by_route[CREATE] == 2  # nothing is sent for a row a check refused
    assert summary.by_purpose() == {"associations": 1, "record checks": 15, "creates": 2}
    # each distinct id once as its side's kind: students s3 s999 s4 t4 s5 t6 (6), contacts
    # t3 cNoSuch t5 s6 t4 (5); each one not found once more as the other side's kind: s999,
    # t6 as contacts (t4 is known already), cNoSuch, s6 as students
    assert by_route[STUDENT] == 6 + 2
    assert by_route[CONTACT] == 5 + 2


def test_swapped_columns_stop_before_anything_is_sent_and_swap_fixes_them(
    tmp_path: Path,
) -> None:
    path = write_csv(
        tmp_path / "in.csv",
        [["Student ID", "Teacher ID"], *[[teacher_id(n), student_id(n)] for n in range(3, 9)]],
    )
    sandbox = Sandbox()
    with pytest.raises(InputError) as stopped:
        run_import(path, demo_settings(tmp_path), transport=sandbox.transport())
    message = str(stopped.value)
    assert (
        "the columns look swapped. In 6 rows the 'Student ID' column holds ids shaped like contact"
        in message
    )
    assert "Run again with --swap" in message and "Nothing was sent" in message
    assert sandbox.stats(DEMO_LOCATION).by_route.get(CREATE, 0) == 0
    summary = run_import(path, demo_settings(tmp_path, swap=True), transport=sandbox.transport())
    assert summary.counts == {Status.CREATED: 6}
    assert sandbox.has_relation(
        DEMO_LOCATION, "67c1f2a3b4c5d6e7f8a90001", student_id(3), teacher_id(3)
    )


def test_record_kinds_tell_swapped_columns_where_shapes_cannot(tmp_path: Path) -> None:
    # opportunities and contacts have the same id shape: only the records can tell
    path = write_csv(
        tmp_path / "in.csv",
        [["Opportunity", "Contact"], *[[teacher_id(n), f"oppDemo{n:013d}"] for n in (1, 2, 3)]],
    )
    settings = demo_settings(
        tmp_path,
        association=OPPORTUNITIES_CONTACTS,
        first_column="Opportunity",
        second_column="Contact",
        check_records=True,
    )
    sandbox = Sandbox()
    with pytest.raises(
        InputError,
        match=r"the columns are swapped\. Of the ids in 'Opportunity', 3 are contact records",
    ):
        run_import(path, settings, transport=sandbox.transport())
    assert sandbox.stats(DEMO_LOCATION).by_route.get(CREATE, 0) == 0
    swapped = settings.model_copy(update={"swap": True})
    summary = run_import(path, swapped, transport=sandbox.transport())
    assert summary.counts == {Status.CREATED: 3}


def test_a_file_spanning_two_locations_uses_each_ones_token_and_budget(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "in.csv",
        [
            ["Location", "Opportunity", "Contact email"],
            [DEMO_LOCATION, "oppDemo0000000000001", "teacher1@example.edu"],
            [DEMO_LOCATION, "oppDemo0000000000002", "TEACHER2@example.edu"],
            [OTHER_LOCATION, "oppOther000000000001", "other1@example.org"],
            [OTHER_LOCATION, "oppOther000000000001", "other2@example.org"],
            [OTHER_LOCATION, "oppOther000000000001", "teacher1@example.edu"],  # not there
            ["", "oppDemo0000000000003", "teacher3@example.edu"],
        ],
    )
    (tmp_path / "config.yaml").write_text(
        "location_column: Location\n"
        f"association: {OPPORTUNITIES_CONTACTS}\n"
        "first_column: Opportunity\n"
        "second: {column: Contact email, lookup: email}\n"
        f"token_env_by_location: {{{OTHER_LOCATION}: OTHER_TOKEN}}\n"
        f"out: {tmp_path / 'results.csv'}\n",
        encoding="utf-8",
    )
    environ = {"LEADWAY_TOKEN": DEMO_TOKEN, "OTHER_TOKEN": OTHER_TOKEN}
    settings = load_settings(config_path=tmp_path / "config.yaml", environ=environ)
    sandbox = Sandbox()
    dry_settings = settings.model_copy(update={"out": tmp_path / "dry.csv"})
    plan = run_import(path, dry_settings, dry_run=True, transport=sandbox.transport()).plan
    assert plan is not None
    planned = {x.location: x.total for x in plan.locations}
    before = {loc: sandbox.stats(loc).requests for loc in (DEMO_LOCATION, OTHER_LOCATION)}
    summary = run_import(path, settings, transport=sandbox.transport())
    rows = read_results(summary.result_path)
    assert [r["status"] for r in rows] == [
        "created",
        "created",
        "created",
        "created",
        "unresolved",
        "invalid",
    ]
    assert rows[-1]["error_code"] == "location_blank"
    for location, creates in ((DEMO_LOCATION, 2), (OTHER_LOCATION, 2)):
        stats = sandbox.stats(location)
        assert stats.by_route[CREATE] == creates
        spent = stats.requests - before[location]
        assert summary.budgets[location]["requests"] == spent == planned[location]
    # undo finds each relation's location in the same column of the result file
    undo_settings = settings.model_copy(update={"out": tmp_path / "undo.csv"})
    undone = run_undo(summary.result_path, undo_settings, transport=sandbox.transport())
    assert undone.counts == {Status.DELETED: 4, Status.SKIPPED: 2}
    for location in (DEMO_LOCATION, OTHER_LOCATION):
        assert sandbox.stats(location).by_route["DELETE /associations/relations/{relationId}"] == 2


def test_a_location_without_a_token_is_reported_before_any_request(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "in.csv",
        [
            ["Location", "Opportunity", "Contact"],
            [OTHER_LOCATION, "oppOther000000000001", "cOtherLoc00000000001"],
        ],
    )
    with serve(Sandbox()) as server:
        flags = {
            "target": server.url,
            "location_column": "Location",
            "association": OPPORTUNITIES_CONTACTS,
            "first_column": "Opportunity",
            "second_column": "Contact",
            "token_env_by_location": {DEMO_LOCATION: "DEMO_TOKEN_VAR"},
            "out": tmp_path / "r.csv",
        }
        settings = load_settings(flags=flags, environ={"DEMO_TOKEN_VAR": DEMO_TOKEN})
        with pytest.raises(
            ConfigError, match=f"location {OTHER_LOCATION} has no token: set LEADWAY_TOKEN"
        ):
            run_import(path, settings)
        assert server.sandbox.stats(OTHER_LOCATION).requests == 0
        mapped = load_settings(
            flags={**flags, "token_env_by_location": {OTHER_LOCATION: "OTHER_VAR"}},
            environ={"LEADWAY_TOKEN": DEMO_TOKEN},  # the default token must not stand in
        )
        with pytest.raises(ConfigError) as unset:
            run_import(path, mapped)
        assert str(unset.value) == (
            f"{path}: the environment variable OTHER_VAR, which token_env_by_location names "
            f"for location {OTHER_LOCATION}, is not set. Nothing was sent."
        )
        assert server.sandbox.stats(OTHER_LOCATION).requests == 0


def test_the_dry_run_look_ups_serve_the_real_run_and_its_plan_is_exact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_csv(
        tmp_path / "in.csv",
        [
            ["Student ID", "Teacher email"],
            *[[student_id(n), f"teacher{1 + n % 8}@example.edu"] for n in range(1, 13)],
            [student_id(404), "teacher1@example.edu"],
        ],
    )
    with serve(Sandbox()) as server:
        settings = demo_settings(
            tmp_path,
            target=server.url,
            second_column="Teacher email",
            second_lookup="email",
            check_records=True,
            out=None,
        )
        settings = settings.model_copy(
            update={"token": load_settings(environ={"LEADWAY_TOKEN": DEMO_TOKEN}).token}
        )
        monkeypatch.chdir(tmp_path)  # both runs keep their answers in ./results
        dry = run_import(path, settings, dry_run=True)
        assert dry.plan is not None
        assert dry.plan.as_json()["requests"] == {
            # the association, 12 creates; look-ups and checks that found something are
            # reused; the missing student is asked again (as a student, then as a contact)
            "total": 1 + 2 + 12,
            "associations": 1,
            "object schemas": 0,  # no custom object's property to check
            "look-ups": 0,
            "record checks": 2,
            "existing relations": 0,
            "ledger checks": 0,
            "creates": 12,
            "mirror deletes": 0,
        }
        assert dry.plan.spent_now == {"associations": 1, "look-ups": 8, "record checks": 13 + 1}
        real = run_import(path, settings)
        assert real.requests == dry.plan.total
        rows = read_results(real.result_path)
        assert Counter(r["status"] for r in rows) == {
            "created": 12,
            "invalid": 1,
        }
        assert rows[-1]["error_code"] == "first_record_not_found"


def test_skip_existing_reads_the_smaller_side_and_sends_only_new_pairs(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "in.csv",
        [["Student ID", "Teacher ID"], *[[student_id(n), teacher_id(1)] for n in range(1, 6)]],
    )
    sandbox = Sandbox()  # students 1 and 2 are linked to teacher 1 already
    summary, notices = run_noting(
        path, demo_settings(tmp_path, skip_existing=True), sandbox.transport()
    )
    rows = read_results(summary.result_path)
    assert [(r["status"], r["error_code"]) for r in rows] == [
        ("already_exists", "existed"),
        ("already_exists", "existed"),
        ("created", ""),
        ("created", ""),
        ("created", ""),
    ]
    assert rows[0]["relation_id"] == "67d000000000000000000001"
    by_route = sandbox.stats(DEMO_LOCATION).by_route
    # one teacher's relations (1 read) instead of five students'; 3 creates, not 5
    assert by_route["GET /associations/relations/{recordId}"] == 1
    assert by_route[CREATE] == 3
    assert notices == []


def test_skip_existing_does_not_read_when_reading_costs_more_than_sending(
    tmp_path: Path,
) -> None:
    path = write_csv(
        tmp_path / "in.csv",
        [
            ["Student ID", "Teacher ID"],
            [student_id(1), teacher_id(1)],
            [student_id(3), teacher_id(2)],
        ],
    )
    sandbox = Sandbox()
    summary, notices = run_noting(
        path, demo_settings(tmp_path, skip_existing=True), sandbox.transport()
    )
    assert summary.counts == {Status.ALREADY_EXISTS: 1, Status.CREATED: 1}
    assert "GET /associations/relations/{recordId}" not in sandbox.stats(DEMO_LOCATION).by_route
    assert notices == [
        "--skip-existing: reading the existing relations would cost at least 2 requests, "
        "more than sending the 2 pairs: sending."
    ]


def test_a_lookup_that_does_not_fit_its_side_is_refused_before_any_create(
    tmp_path: Path,
) -> None:
    path = write_csv(tmp_path / "in.csv", [["Opportunity", "Contact"], ["x", "y"]])
    sandbox = Sandbox()
    settings = demo_settings(
        tmp_path,
        association=OPPORTUNITIES_CONTACTS,
        first_column="Opportunity",
        first_lookup="phone",
        second_column="Contact",
    )
    with pytest.raises(ConfigError) as refused:
        run_import(path, settings, transport=sandbox.transport())
    assert str(refused.value) == (
        "first_lookup is 'phone', but the first side of association "
        "OPPORTUNITIES_CONTACTS_ASSOCIATION holds opportunity records, which can be found "
        "only by id. Set first_lookup accordingly. If that column holds the other side's "
        "records, the columns are swapped: add --swap."
    )
    assert sandbox.stats(DEMO_LOCATION).by_route.get(CREATE, 0) == 0


def test_a_side_is_configured_as_one_mapping_too(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text(
        'first: {column: "Student email", lookup: student_email}\nsecond_column: T\n',
        encoding="utf-8",
    )
    settings = load_settings(config_path=tmp_path / "c.yaml", environ={})
    assert (settings.first_column, settings.first_lookup) == ("Student email", "student_email")
    (tmp_path / "c.yaml").write_text("first: {column: A, lookups: email}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="'first': expected the keys column and lookup"):
        load_settings(config_path=tmp_path / "c.yaml", environ={})


def test_a_look_up_the_api_refuses_leaves_that_row_unresolved_and_the_run_going(
    tmp_path: Path,
) -> None:
    path = write_csv(
        tmp_path / "in.csv",
        [
            ["Student ID", "Teacher"],
            [student_id(3), "odd@example.edu"],
            [student_id(3), "teacher2@example.edu"],
        ],
    )
    settings = demo_settings(tmp_path, second_column="Teacher", second_lookup="email")
    summary = run_import(path, settings, transport=RefusingSearch(Sandbox(), "odd@example.edu"))
    rows = read_results(summary.result_path)
    assert [(r["status"], r["error_code"]) for r in rows] == [
        ("unresolved", "second_unresolved"),
        ("created", ""),
    ]
    assert "(the API refused the look-up: email is invalid)" in rows[0]["error"]


@given(st.text(alphabet="0123456789abcdefABCDEFxyz_é ", min_size=18, max_size=26))
def test_the_survey_shape_test_agrees_with_the_shape_regexes(value: str) -> None:
    expected = next((p.pattern for p, _ in SHAPES.values() if p.fullmatch(value)), "")
    assert id_shape(value) == expected


def test_record_checks_across_budget_days_are_never_asked_twice(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakeTime()  # the sandbox's days pass on it
    limits = Limits(daily=20, day_length=100.0)
    sandbox = seeded(30, 1, relations=False, limits=limits, clock=fake.clock)
    path = grid_file(tmp_path / "in.csv", grid(30, 1))
    monkeypatch.chdir(tmp_path)
    with serve(sandbox) as server:
        settings = demo_settings(
            tmp_path, target=server.url, check_records=True, concurrency=1, out=None
        ).model_copy(update={"token": load_settings(environ={"LEADWAY_TOKEN": DEMO_TOKEN}).token})
        days = []
        for day in range(4):
            fake.now = day * 150.0
            summary = run_import(path, settings)
            days.append((summary.exit_code, summary.counts.get(Status.CREATED, 0)))
            if day == 0:  # a scheduler tells it from summary.json alone
                first = summary.as_json()
                assert (first["outcome"], first["counts"]) == ("budget", {"not_sent": 30})
                assert "daily" in str(first["stopped_because"])
        by_route = sandbox.stats(DEMO_LOCATION).by_route
    # day 1 spends its budget on the association and checks: nothing sent, exit 5; later days
    # go on from there (the journal keeps the association, the cache the checks' answers)
    assert days == [(5, 0), (5, 8), (5, 28), (0, 30)]
    assert by_route[STUDENT] == 30 and by_route[CONTACT] == 1  # each id once, over 4 days
    assert by_route[CREATE] == 30
    assert summary.as_json()["outcome"] == "complete"
