"""A result file remembers its run: --only and undo use that run's settings unless told."""

from __future__ import annotations

import json
from pathlib import Path

from importer.report import FOR_ONLY, remembered_settings
from tests.conftest import read_results
from tests.helpers import invoke

BY_EMAIL = (
    "--first-column",
    "Student email",
    "--first-lookup",
    "student_email",
    "--second-column",
    "Teacher phone",
    "--second-lookup",
    "phone",
)


def test_summary_json_keeps_the_settings_of_the_run(in_repo: Path) -> None:
    invoke("run", "samples/students-by-email.csv", *BY_EMAIL, "--quiet")
    summary = json.loads((in_repo / "results/students-by-email-results.summary.json").read_text())
    assert summary["settings"] == {
        "target": "sandbox",
        "location_id": "ldwDemoLocation00001",
        "association": "student_teacher",
        "first_column": "Student email",
        "second_column": "Teacher phone",
        "first_lookup": "student_email",
        "second_lookup": "phone",
        "swap": False,
        "phone_region": "US",
        "no_header": False,
    }
    assert remembered_settings(in_repo / "results/nothing.csv", FOR_ONLY) == {}


def test_only_on_a_result_file_keeps_its_columns_and_look_ups(in_repo: Path) -> None:
    invoke("run", "samples/students-by-email.csv", *BY_EMAIL, "--quiet")
    results = "results/students-by-email-results.csv"
    code, _, err = invoke("run", results, "--only", "unresolved")
    assert code == 1
    assert err == (
        f"{results}: using the settings of the run that wrote it: first_column 'Student "
        "email', second_column 'Teacher phone', first_lookup 'student_email', second_lookup "
        "'phone' (a flag overrides any of them).\n"
    )
    rows = read_results(in_repo / "results/students-by-email-results-2.csv")
    assert {r["status"] for r in rows} == {"unresolved"}  # looked up again, not first_id_email
    code, _, err = invoke("run", results, "--only", "unresolved", "--first-lookup", "email")
    assert code == 2  # a flag overrides: email is not a look-up of students
    assert "first_lookup 'student_email'" not in err


def test_undo_finds_the_location_of_the_import(in_repo: Path) -> None:
    config = in_repo / "config.yaml"
    config.write_text(config.read_text().replace("\nlocation_id:", "\n# location_id:"))
    invoke("run", "samples/relations.csv", "--location-id", "ldwDemoLocation00001", "--quiet")
    code, out, err = invoke("undo", "results/relations-results.csv", "--dry-run")
    assert code == 0
    assert err == (
        "results/relations-results.csv: using the settings of the run that wrote it: "
        "location_id 'ldwDemoLocation00001' (a flag overrides any of them).\n"
    )
    assert "  would_delete          18\n" in out
