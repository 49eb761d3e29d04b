"""``relimport init``: a config file that loads, names the right columns and holds no token."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from importer.api import ObjectProperty, ObjectSchema
from importer.cli import main
from importer.config import load_settings
from importer.i18n import translate_line
from importer.models import Association
from importer.sandbox import DEMO_LOCATION, DEMO_TOKEN, student_id, teacher_id
from importer.setup import (
    API_URL,
    Samples,
    best,
    propose,
    propose_lookup,
    propose_property,
    sample_columns,
)
from tests.conftest import SAMPLES, write_csv
from tests.helpers import invoke

FLAGS = ("--base-url", "sandbox", "--location-id", DEMO_LOCATION)
STUDENT_TEACHER = Association(
    "67c1f2a3b4c5d6e7f8a90001",
    "student_teacher",
    "custom_objects.students",
    "Student",
    "contact",
    "Teacher",
    "USER_DEFINED",
)
COMPANY_CONTACT = Association(
    "BUSINESSES_CONTACTS_ASSOCIATION",
    "BUSINESSES_CONTACTS_ASSOCIATION",
    "business",
    "Company",
    "contact",
    "Contact",
    "SYSTEM_DEFINED",
)


def comments_every_key(text: str) -> None:
    """Every key line, set or commented out, comes right after its description."""
    lines = text.splitlines()
    for number, line in enumerate(lines):
        if re.fullmatch(r"\s*(# )?\w+:.*", line) and not line.rstrip().endswith(":"):
            above = lines[number - 1].strip()
            assert above.startswith("# ") and not re.fullmatch(r"# \w+:.*", above), line


@pytest.mark.parametrize("name", ["relations.csv", "relations.xlsx"])
def test_flags_only_write_a_config_that_loads(in_repo: Path, name: str) -> None:
    code, out, err = invoke("init", f"samples/{name}", *FLAGS, "--out", "new.yaml")
    assert (code, err) == (0, "")
    assert out == (
        "Wrote new.yaml: location ldwDemoLocation00001, association student_teacher, "
        "first_column 'Student ID', second_column 'Teacher ID'.\n"
        "The token stays in $LEADWAY_TOKEN; it is not in the file. Next:\n"
        "  relimport doctor --config new.yaml\n"
        f"  relimport validate samples/{name} --config new.yaml\n"
    )
    settings = load_settings(config_path=in_repo / "new.yaml", environ={})
    assert (settings.target, settings.location_id, settings.association) == (
        "sandbox",
        DEMO_LOCATION,
        "student_teacher",
    )
    assert (settings.first_column, settings.second_column) == ("Student ID", "Teacher ID")
    comments_every_key((in_repo / "new.yaml").read_text())
    code, out, _ = invoke("validate", f"samples/{name}", "--config", "new.yaml", "--quiet")
    assert code == 0


def test_an_existing_file_is_never_overwritten_without_force(in_repo: Path) -> None:
    before = (in_repo / "config.yaml").read_bytes()
    code, out, err = invoke("init", "samples/relations.csv", *FLAGS)
    assert (code, out) == (2, "")
    assert err == (
        "Error: config.yaml: a file is already there and is never overwritten. Choose another "
        "--out, move the old file away, or pass --force to replace it.\n"
    )
    assert (in_repo / "config.yaml").read_bytes() == before
    code, _, _ = invoke("init", "samples/relations.csv", *FLAGS, "--force")
    assert code == 0
    assert (in_repo / "config.yaml").read_bytes() != before
    assert load_settings().first_column == "Student ID"


def test_questions_when_interactive(in_repo: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["init", "samples/relations.csv", "--interactive", "--out", "asked.yaml"],
        input=f"sandbox\n{DEMO_LOCATION}\n\n\nTeacher ID\n",
    )
    assert result.exit_code == 0, result.output
    assert result.output.startswith(
        "API base URL [sandbox]: sandbox\n"
        "Location (sub-account) id: ldwDemoLocation00001\n"
        "Associations of the location:\n"
        "  student_teacher (id 67c1f2a3b4c5d6e7f8a90001): Student (custom_objects.students) -> "
        "Teacher (contact).\n"
        "  OPPORTUNITIES_CONTACTS_ASSOCIATION (id OPPORTUNITIES_CONTACTS_ASSOCIATION): "
        "Opportunity (opportunity) -> Contact (contact).\n"
        "  BUSINESSES_CONTACTS_ASSOCIATION (id BUSINESSES_CONTACTS_ASSOCIATION): Company "
        "(business) -> Contact (contact).\n"
        "Association (key or id) [student_teacher]: \n"
        "Column of the first ids (Student) [Student ID]: \n"
        "Column of the second ids (Teacher) [Teacher ID]: Teacher ID\n"
        "Wrote asked.yaml:"
    )
    settings = load_settings(config_path=in_repo / "asked.yaml", environ={})
    assert (settings.association, settings.first_column) == ("student_teacher", "Student ID")


def test_a_wrong_answer_is_asked_again(in_repo: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["init", "samples/relations.csv", *FLAGS, "--interactive", "--out", "x.yaml"],
        input="nope\nstudent_teacher\n\n\n",
    )
    assert result.exit_code == 0, result.output
    assert "Error: 'nope' is not one of" in result.output


def test_the_token_is_never_in_the_file(in_repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADWAY_TOKEN", DEMO_TOKEN)
    code, out, _ = invoke("init", "samples/relations.csv", *FLAGS, "--out", "t.yaml")
    assert code == 0
    text = (in_repo / "t.yaml").read_text()
    assert DEMO_TOKEN not in text and DEMO_TOKEN not in out
    assert "token_env: LEADWAY_TOKEN" in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--base-url", "sandbox"],  # ./config.yaml is not read: its location is not used
            "Error: No location given. Give --location-id.\n",
        ),
        (
            [*FLAGS],
            "Error: No association given, and no INPUT to guess it from. Give --association: "
            "one of student_teacher, OPPORTUNITIES_CONTACTS_ASSOCIATION, "
            "BUSINESSES_CONTACTS_ASSOCIATION.\n",
        ),
        (
            [*FLAGS, "--association", "student_teacher", "--first-column", "Student ID"],
            "Error: No second column given, and no INPUT to guess it from. Give --second-column "
            "(the column holding the Teacher ids).\n",
        ),
        (
            ["samples/relations.csv", *FLAGS, "--association", "OPPORTUNITIES_CONTACTS"],
            "Error: The association 'OPPORTUNITIES_CONTACTS' does not exist in location "
            "ldwDemoLocation00001.",
        ),
        (
            ["samples/relations.csv", *FLAGS, "--first-column", "Student"],
            "Error: samples/relations.csv: there is no column 'Student' for the first ids.",
        ),
        (
            ["samples/relations.csv", "--location-id", DEMO_LOCATION, "--base-url", API_URL],
            "Error: No API token: set the environment variable LEADWAY_TOKEN",
        ),
    ],
)
def test_without_a_terminal_a_missing_flag_is_named(
    in_repo: Path, args: list[str], message: str
) -> None:
    code, out, err = invoke("init", *args, "--out", "x.yaml")
    assert (code, out) == (2, "")
    assert err.startswith(message)
    assert not (in_repo / "x.yaml").exists()


def test_columns_that_fit_no_association_need_flags(in_repo: Path) -> None:
    write_csv(in_repo / "emails.csv", [["Student", "Teacher"], ["ana@example.edu", "Teacher 1"]])
    code, _, err = invoke("init", "emails.csv", *FLAGS, "--out", "x.yaml")
    assert (code, err) == (
        2,
        "Error: No association of the location fits the ids in INPUT's columns. "
        "Give --association: one of student_teacher, OPPORTUNITIES_CONTACTS_ASSOCIATION, "
        "BUSINESSES_CONTACTS_ASSOCIATION.\n",
    )
    code, _, err = invoke(
        "init", "emails.csv", *FLAGS, "--association", "student_teacher", "--out", "x.yaml"
    )
    assert (code, err) == (
        2,
        "Error: Which column of INPUT holds the first ids (Student)? "
        "Give --first-column: one of 'Student', 'Teacher'.\n",
    )


def test_yaml_special_characters_are_quoted(in_repo: Path) -> None:
    first, second = "#Student: ID", "Teacher 'ID', \"main\" & *star"
    write_csv(in_repo / "odd.csv", [[first, second], [student_id(3), teacher_id(2)]])
    code, _, err = invoke("init", "odd.csv", *FLAGS, "--out", "odd.yaml")
    assert (code, err) == (0, "")
    settings = load_settings(config_path=in_repo / "odd.yaml", environ={})
    assert (settings.first_column, settings.second_column) == (first, second)


def test_the_samples_fit_two_associations_and_the_names_pick_one() -> None:
    samples = sample_columns(SAMPLES / "relations.csv")
    assert samples.header == ("Student ID", "Teacher ID", "Student name", "Note")
    assert len(samples.values["Student ID"]) == 20
    found = propose(samples, [COMPANY_CONTACT, STUDENT_TEACHER])
    assert [(p.association.key, p.first_column, p.second_column, p.named) for p in found] == [
        ("student_teacher", "Student ID", "Teacher ID", 2),
        ("BUSINESSES_CONTACTS_ASSOCIATION", "Student ID", "Teacher ID", 0),
    ]
    assert best(found) == found[0]


def test_equally_named_proposals_are_no_guess() -> None:
    samples = Samples(("A", "B"), {"A": (student_id(1),), "B": (teacher_id(1),)})
    found = propose(samples, [COMPANY_CONTACT, STUDENT_TEACHER])
    assert len(found) == 2
    assert best(found) is None


def test_the_questions_are_asked_in_spanish_too(in_repo: Path) -> None:
    result = CliRunner().invoke(
        main,
        ["--lang", "es", "init", "samples/relations.csv", "--interactive", "--out", "es.yaml"],
        input=f"sandbox\n{DEMO_LOCATION}\n\n\n\n",
    )
    assert result.exit_code == 0, result.output
    for question in (
        "URL base de la API [sandbox]: sandbox\n",
        "Id de la ubicación (location, subcuenta): ldwDemoLocation00001\n",
        "Asociación (clave o id) [student_teacher]: \n",
        "Columna de los ids del lado first (Student) [Student ID]: \n",
    ):
        assert question in result.output
    assert "API base URL" not in result.output


def test_sheet_picks_the_sheet_of_relations_in_a_workbook(in_repo: Path) -> None:
    from openpyxl import Workbook

    book = Workbook()
    notes = book.active
    assert notes is not None
    notes.title = "Instructions"
    notes.append(["Fill in one relation per row on the next sheet."])
    data = book.create_sheet("Relations")
    data.append(["Student ID", "Teacher ID"])
    data.append([student_id(1), teacher_id(2)])
    book.save(in_repo / "two-sheets.xlsx")
    args = ("init", "two-sheets.xlsx", *FLAGS, "--sheet", "Relations", "--out", "book.yaml")
    code, _, err = invoke(*args)
    assert (code, err) == (0, "")
    settings = load_settings(config_path=in_repo / "book.yaml", environ={})
    assert (settings.sheet, settings.first_column, settings.second_column) == (
        "Relations",
        "Student ID",
        "Teacher ID",
    )


@pytest.mark.parametrize(
    ("values", "object_key", "expected"),
    [
        (("ana@example.edu", "ben@example.edu"), "contact", "email"),
        (("+1 555 010 0001", "(555) 010-0002", "010-00"), "contact", "phone"),
        (("cTeacher000000000001",), "contact", "id"),
        (("ana@example.edu",), "custom_objects.students", "id"),  # its property is unknown
        ((), "contact", "id"),
    ],
)
def test_a_lookup_is_proposed_from_the_values(
    values: tuple[str, ...], object_key: str, expected: str
) -> None:
    assert propose_lookup(values, object_key) == expected


def test_init_on_a_file_of_natural_keys_looks_them_up(in_repo: Path) -> None:
    """Phone numbers of contacts by their values; a custom object's property by the column's
    title among the object's properties (GET /objects/{key})."""
    columns = ("--first-column", "Student email", "--second-column", "Teacher phone")
    args = ("init", "samples/students-by-email.csv", *FLAGS, *columns, "--out", "keys.yaml")
    code, _, err = invoke(*args, "--association", "student_teacher")
    assert (code, err) == (0, "")
    settings = load_settings(config_path=in_repo / "keys.yaml", environ={})
    assert (settings.first_lookup, settings.second_lookup) == ("student_email", "phone")


def test_init_guesses_the_columns_of_natural_keys_when_no_column_holds_ids(
    in_repo: Path,
) -> None:
    """No flag but the location: the only association whose sides the columns fit, the
    students by a column titled with their label, the teachers (contacts) by phone."""
    args = ("init", "samples/students-by-email.csv", *FLAGS, "--out", "keys.yaml")
    code, out, err = invoke(*args)
    assert (code, err) == (0, "")
    assert out.startswith(
        "Wrote keys.yaml: location ldwDemoLocation00001, association student_teacher, "
        "first_column 'Student email', second_column 'Teacher phone'."
    )
    settings = load_settings(config_path=in_repo / "keys.yaml", environ={})
    assert (settings.first_lookup, settings.second_lookup) == ("student_email", "phone")


def test_ids_are_proposed_before_natural_keys() -> None:
    """A side with a column of its ids takes it, not a column of keys beside it."""
    samples = Samples(
        ("Student email", "Student ID", "Teacher email"),
        {
            "Student email": ("ana.ruiz@example.edu",),
            "Student ID": (student_id(1),),
            "Teacher email": ("t1@example.edu",),
        },
    )
    proposals = propose(samples, [STUDENT_TEACHER])
    assert {p.first_column for p in proposals} == {"Student ID"}
    guess = best(proposals)  # either e-mail column fits the contacts: the one titled Teacher
    assert guess is not None
    assert (guess.first_column, guess.second_column) == ("Student ID", "Teacher email")


def test_a_column_no_property_is_named_after_lists_the_properties(in_repo: Path) -> None:
    write_csv(in_repo / "kids.csv", [["Kid", "Teacher ID"], ["Ana Ruiz", teacher_id(1)]])
    args = ("init", "kids.csv", *FLAGS, "--association", "student_teacher", "--out", "k.yaml")
    code, _, err = invoke(*args, "--first-column", "Kid")
    assert (code, err) == (
        0,
        "The column 'Kid' does not hold custom_objects.students ids: set first_lookup in the "
        "file to the property it holds, one of name, student_email.\n",
    )
    assert translate_line(err.rstrip("\n"), "es") is not None
    settings = load_settings(config_path=in_repo / "k.yaml", environ={})
    assert settings.first_lookup == "id"


def test_on_a_terminal_init_asks_which_property(in_repo: Path) -> None:
    write_csv(in_repo / "kids.csv", [["Kid", "Teacher ID"], ["Ana Ruiz", teacher_id(1)]])
    args = ["init", "kids.csv", *FLAGS, "--association", "student_teacher", "--out", "k.yaml"]
    result = CliRunner().invoke(
        main,
        [*args, "--first-column", "Kid", "--second-column", "Teacher ID", "--interactive"],
        input="nmae\nname\n",
    )
    assert result.exit_code == 0, result.output
    assert (
        "Property of custom_objects.students that column 'Kid' holds (first_lookup) "
        "(id, name, student_email) [id]: " in result.output
    )
    assert "'nmae' is not one of 'id', 'name', 'student_email'." in result.output
    settings = load_settings(config_path=in_repo / "k.yaml", environ={})
    assert settings.first_lookup == "name"


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ("Student email", "student_email"),
        ("STUDENT-EMAIL", "student_email"),
        ("Email", "student_email"),  # the one property ending so
        ("Student e-mail", "student_email"),
        ("Full name", None),
        ("Name", "name"),
        ("Kid", None),
    ],
)
def test_a_property_is_proposed_from_the_column_title(column: str, expected: str | None) -> None:
    schema = ObjectSchema(
        "custom_objects.students",
        "Student",
        (ObjectProperty("name", "Name"), ObjectProperty("student_email", "Student email")),
    )
    assert propose_property(column, schema) == expected


def test_init_and_run_have_one_default_target(in_repo: Path) -> None:
    code, _, _ = invoke("init", "samples/relations.csv", "--location-id", DEMO_LOCATION)
    assert code == 2  # config.yaml is there: init never writes over it
    args = ("init", "samples/relations.csv", "--location-id", DEMO_LOCATION, "--out", "d.yaml")
    assert invoke(*args)[0] == 0  # no token needed: the sandbox, as for run
    assert load_settings(config_path=in_repo / "d.yaml", environ={}).target == "sandbox"
