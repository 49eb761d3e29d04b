"""A custom object's property in first_lookup / second_lookup, checked in the object's schema
(``GET /objects/{key}`` with fetchProperties) before any look-up is spent on it."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

import pytest

from importer.api import ObjectProperty, ObjectSchema, read_schema
from importer.errors import ConfigError
from importer.i18n import translate_line
from importer.report import Hooks
from importer.run import run_import
from importer.sandbox import (
    DEMO_LOCATION,
    DEMO_TOKEN,
    READ_SCOPES,
    STUDENTS_KEY,
    Sandbox,
    Token,
    demo_seed,
    teacher_id,
)
from importer.setup import diagnose
from tests.conftest import demo_settings, write_csv

SCHEMA = "GET /objects/{key}"
RECORD_SEARCH = "POST /objects/{schemaKey}/records/search"
CREATE = "POST /associations/relations"
LISTED = "Its properties: name, student_email (Student email)."


def _file(tmp_path: Path) -> Path:
    rows = [["Student email", "Teacher ID"]]
    rows += [["ana.ruiz@example.edu", teacher_id(3)], ["ben.okafor@example.edu", teacher_id(3)]]
    return write_csv(tmp_path / "in.csv", rows)


@pytest.mark.parametrize(
    ("prop", "hint"),
    [
        ("studnt_email", " Did you mean 'student_email'?"),
        ("Student-Email", " Did you mean 'student_email'?"),  # the label, nearly
        ("names", " Did you mean 'name'?"),
        ("birthday", ""),
    ],
)
def test_a_wrong_property_stops_before_any_look_up_listing_the_properties(
    tmp_path: Path, prop: str, hint: str
) -> None:
    sandbox = Sandbox()
    settings = demo_settings(tmp_path, first_column="Student email", first_lookup=prop)
    with pytest.raises(ConfigError) as stopped:
        run_import(_file(tmp_path), settings, transport=sandbox.transport())
    assert str(stopped.value) == (
        f"first_lookup is '{prop}', but Student (custom_objects.students) has no property "
        f"'{prop}' in location {DEMO_LOCATION}.{hint} {LISTED} Set first_lookup in "
        "config.yaml, or pass --first-lookup, to one of them."
    )
    assert translate_line(f"Error: {stopped.value}", "es") is not None
    by_route = sandbox.stats(DEMO_LOCATION).by_route
    assert by_route[SCHEMA] == 1
    assert RECORD_SEARCH not in by_route and CREATE not in by_route  # nothing spent on it


def test_a_right_property_costs_one_request_counted_in_the_plan(tmp_path: Path) -> None:
    sandbox = Sandbox()  # the case of a property's name does not matter, as in the look-ups
    settings = demo_settings(tmp_path, first_column="Student email", first_lookup="Student_Email")
    summary = run_import(_file(tmp_path), settings, transport=sandbox.transport(), dry_run=True)
    assert summary.by_purpose() == {
        "associations": 1,
        "object schemas": 1,
        "look-ups": 2,
        "creates": 0,
    }
    assert summary.plan is not None
    assert summary.plan.lines()[0] == (
        "Plan: the real run needs 6 requests (1 association, 1 object schema, 2 look-ups, "
        "2 creates)."
    )


def test_with_swap_the_message_names_the_setting_the_user_wrote(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "in.csv", [["Teacher ID", "Student email"], [teacher_id(3), "x@example.edu"]]
    )
    settings = demo_settings(
        tmp_path,
        first_column="Teacher ID",
        second_column="Student email",
        second_lookup="emial",
        swap=True,
    )
    with pytest.raises(ConfigError) as stopped:
        run_import(path, settings, transport=Sandbox().transport())
    assert str(stopped.value).startswith("second_lookup is 'emial', but Student")
    assert str(stopped.value).endswith(
        "Set second_lookup in config.yaml, or pass --second-lookup, to one of them."
    )


def _without_schemas() -> Sandbox:
    seed = demo_seed()
    demo = replace(seed.locations[0], objects=())
    return Sandbox(replace(seed, locations=(demo, *seed.locations[1:])))


def _without_schema_scope() -> Sandbox:
    sandbox = Sandbox()
    scopes = (READ_SCOPES - {"objects/schema.readonly"}) | {"associations/relation.write"}
    sandbox.add_token(Token(DEMO_TOKEN, (DEMO_LOCATION,), frozenset(scopes)))
    return sandbox


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (_without_schemas, "the API answered 404 to GET /objects/custom_objects.students"),
        (
            _without_schema_scope,
            "the API answered 401 to GET /objects/custom_objects.students (the token may lack "
            "the scope objects/schema.readonly)",
        ),
    ],
)
def test_a_refused_schema_request_is_a_notice_and_the_run_goes_on(
    tmp_path: Path, make: object, reason: str
) -> None:
    assert callable(make)
    sandbox = make()
    notices: list[str] = []
    settings = demo_settings(tmp_path, first_column="Student email", first_lookup="student_email")
    path = _file(tmp_path)
    summary = run_import(
        path, settings, transport=sandbox.transport(), hooks=Hooks(on_notice=notices.append)
    )
    assert notices == [
        f"{path}: could not check that {STUDENTS_KEY} has the property 'student_email' "
        f"(first_lookup): {reason}; the run goes on without the check."
    ]
    assert translate_line(notices[0], "es") is not None
    assert summary.exit_code == 0
    assert sandbox.stats(DEMO_LOCATION).by_route[CREATE] == 2


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (  # the spec's example writes custom_object.<key>.<field>: the last part is the name
            {
                "object": {"labels": {"singular": "Pet", "plural": "Pets"}},
                "cache": True,
                "fields": [
                    {"fieldKey": "custom_object.pet.name", "name": "Pet name"},
                    {"fieldKey": "custom_objects.pet.breed"},
                    {"name": "no key"},
                ],
            },
            ObjectSchema(
                "custom_objects.pet",
                "Pet",
                (ObjectProperty("name", "Pet name"), ObjectProperty("breed", "breed")),
            ),
        ),
        ({"object": {}, "cache": False}, None),  # no fields: nothing to check against
        ({"fields": []}, None),
        ([], None),
    ],
)
def test_a_schema_is_read_from_any_answer_shape(body: object, expected: object) -> None:
    assert read_schema(body, "custom_objects.pet") == expected


def test_doctor_reports_a_wrong_property_and_a_right_one(tmp_path: Path) -> None:
    sandbox = Sandbox()
    wrong = demo_settings(tmp_path, first_column="Student email", first_lookup="student-email")
    findings = asyncio.run(diagnose(wrong, sandbox.transport()))
    found = [f for f in findings if f.check == "first_lookup"]
    assert [(f.ok, f.message) for f in found] == [
        (
            False,
            f"first_lookup is 'student-email', but Student (custom_objects.students) has no "
            f"property 'student-email' in location {DEMO_LOCATION}. Did you mean "
            f"'student_email'? {LISTED} Set first_lookup in config.yaml, or pass "
            "--first-lookup, to one of them.",
        )
    ]
    right = wrong.model_copy(update={"first_lookup": "student_email"})
    findings = asyncio.run(diagnose(right, sandbox.transport()))
    found = [f for f in findings if f.check == "first_lookup"]
    assert [(f.ok, f.message) for f in found] == [
        (True, "custom_objects.students has the property 'student_email'.")
    ]
    assert all(f.ok for f in findings)
    unchecked = asyncio.run(diagnose(right, _without_schemas().transport()))
    assert [(f.ok, f.message) for f in unchecked if f.check == "first_lookup"] == [
        (
            True,
            "the property 'student_email' of custom_objects.students could not be checked: the "
            "API answered 404 to GET /objects/custom_objects.students; a run goes on without "
            "the check.",
        )
    ]
    for finding in [*findings, *unchecked]:  # as doctor prints them, in Spanish
        assert translate_line(f"ok       {finding.check}: {finding.message}", "es") is not None
