"""The command line as a user and a scheduler see it: exact output and exit codes."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import click
import pytest

from importer.cli import main
from tests.conftest import REPO, read_results
from tests.helpers import invoke


def test_run_the_demo(in_repo: Path) -> None:
    code, out, err = invoke("run", "samples/relations.csv")
    assert (code, err) == (0, "")
    assert out == (
        "Import of samples/relations.csv under student_teacher (Student -> Teacher): 20 rows\n"
        "  created               18\n"
        "  already_exists         2\n"
        "Requests: 21 (0 rate-limited). Time: T s, R rows/s.\n"
        "Results: results/relations-results.csv\n"
    )
    assert len(read_results(in_repo / "results/relations-results.csv")) == 20
    summary = json.loads((in_repo / "results/relations-results.summary.json").read_text())
    assert {
        k: summary[k]
        for k in ("results", "rows", "counts", "requests", "exit_code", "outcome", "resume_command")
    } == {
        "results": "results/relations-results.csv",
        "rows": 20,
        "counts": {"created": 18, "already_exists": 2},
        "requests": 21,
        "exit_code": 0,
        "outcome": "complete",
        "resume_command": None,
    }
    assert summary["input"]["size"] == (in_repo / "samples/relations.csv").stat().st_size
    assert summary["budgets"]["ldwDemoLocation00001"]["requests"] == 21


def test_each_run_on_the_built_in_sandbox_starts_afresh_in_a_new_result(in_repo: Path) -> None:
    invoke("run", "samples/relations.csv")
    code, out, _ = invoke("run", "samples/relations.csv", "--quiet")
    assert (code, out) == (0, "")
    assert (in_repo / "results/relations-results-2.csv").exists()
    assert not list((in_repo / "results").glob("*.journal"))  # nothing to resume there


def test_the_same_command_again_resumes_and_sends_nothing(in_repo: Path, server_url: str) -> None:
    invoke("run", "samples/relations.csv", "--base-url", server_url)
    first = (in_repo / "results/relations-results.csv").read_bytes()
    code, out, err = invoke("run", "samples/relations.csv", "--base-url", server_url)
    assert (code, err) == (0, "")
    assert out == (
        "Import of samples/relations.csv under student_teacher (Student -> Teacher): 20 rows\n"
        "Resumed: 20 rows were already settled (no request).\n"
        "  created               18\n"
        "  already_exists         2\n"
        "Requests: 0 (0 rate-limited). Time: T s, R rows/s.\n"
        "Results: results/relations-results.csv\n"
    )
    assert (in_repo / "results/relations-results.csv").read_bytes() == first


def test_a_changed_input_is_refused_unless_restart(in_repo: Path, server_url: str) -> None:
    invoke("run", "samples/relations.csv", "--base-url", server_url)
    sample = in_repo / "samples/relations.csv"
    sample.write_text(sample.read_text().replace("Ana Ruiz", "Ana Ruiz-Diaz"))
    code, out, err = invoke("run", "samples/relations.csv", "--base-url", server_url)
    assert (code, out) == (2, "")
    assert err.startswith(
        "Error: results/relations-results.csv.journal: this result belongs to "
        "another run: the input file changed since (it had 1290 bytes, now "
    )
    assert "Re-run with --restart to start over" in err
    code, out, err = invoke("run", "samples/relations.csv", "--base-url", server_url, "--restart")
    assert code == 0
    assert "--restart: the earlier results/relations-results.csv is kept as " in err
    kept = sorted(
        re.sub(r"\d{8}-\d{6}", "T", p.name)
        for p in (in_repo / "results").iterdir()
        if p.suffix != ".lock"
    )
    assert kept == [
        "relations-results.csv",  # the new run
        "relations-results.csv.journal",
        "relations-results.csv.journal.replaced-T",  # the earlier run, set aside
        "relations-results.replaced-T-as-written.csv",  # its result file as it was
        "relations-results.replaced-T.csv",  # what its journal knew: undo can use it
        "relations-results.summary.json",  # the new run's summary
        "relations-results.summary.replaced-T.json",  # the earlier run's, never mistaken
    ]
    rendered = next((in_repo / "results").glob("relations-results.replaced-*[0-9].csv"))
    code, out, _ = invoke("undo", str(rendered), "--base-url", server_url, "--dry-run")
    assert code == 0
    assert "  would_delete          18\n" in out  # the 18 it created


def test_another_file_of_the_same_name_gets_its_own_result(in_repo: Path, server_url: str) -> None:
    invoke("run", "samples/relations.csv", "--base-url", server_url)
    (in_repo / "other").mkdir()
    (in_repo / "other/relations.csv").write_bytes((in_repo / "samples/relations.csv").read_bytes())
    code, out, _ = invoke("run", "other/relations.csv", "--base-url", server_url)
    assert code == 0
    assert "Results: results/relations-results-2.csv" in out


def test_run_the_problem_sample(in_repo: Path) -> None:
    code, out, err = invoke("run", "samples/relations-with-problems.csv")
    assert code == 1
    assert out == (
        "Import of samples/relations-with-problems.csv under student_teacher "
        "(Student -> Teacher): 11 rows\n"
        "  created                2\n"
        "  already_exists         1\n"
        "  duplicate_row          1\n"
        "  invalid                5\n"
        "  failed                 2\n"
        "Requests: 6 (0 rate-limited). Time: T s, R rows/s.\n"
        "Warnings: 1 row has a warning (an id of an unexpected shape, a short or long row): "
        "see the error column.\n"
        "Results: results/relations-with-problems-results.csv\n"
        "Some rows need attention: see the status and error columns of the results.\n"
    )
    assert err == (
        "samples/relations-with-problems.csv: row 10: warning: the Student id in column "
        "'Student ID' (cTeacher000000000006) does not look like a custom_objects.students id "
        "(usually 24 hexadecimal characters); check the column order.\n"
    )


def test_validate_is_a_dry_run(in_repo: Path) -> None:
    code, out, _ = invoke("validate", "samples/relations.csv", "--out", "check.csv")
    assert code == 0
    assert out == (
        "Dry run of samples/relations.csv under student_teacher (Student -> Teacher): 20 rows\n"
        "  valid                 20\n"
        "Requests: 1 (0 rate-limited). Time: T s, R rows/s.\n"
        "Plan: the real run needs 21 requests (1 association, 20 creates).\n"
        "  ldwDemoLocation00001: 21 requests, about 3 s at 10 requests/s; fits in today's "
        "budget (199999 requests left).\n"
        "Results: check.csv\n"
    )
    plan = json.loads((in_repo / "check.plan.json").read_text())
    assert plan["requests"]["total"] == 21 and plan["rows"] == {"valid": 20}
    code, out, _ = invoke("run", "samples/relations.csv")
    assert "Requests: 21 " in out  # what the plan said
    assert {row["status"] for row in read_results(in_repo / "check.csv")} == {"valid"}


def test_associations(in_repo: Path) -> None:
    code, out, _ = invoke("associations")
    assert code == 0
    assert out == (
        "ID                                  KEY                                 "
        "FIRST (LABEL)                      SECOND (LABEL)     TYPE\n"
        "67c1f2a3b4c5d6e7f8a90001            student_teacher                     "
        "custom_objects.students (Student)  contact (Teacher)  USER_DEFINED\n"
        "OPPORTUNITIES_CONTACTS_ASSOCIATION  OPPORTUNITIES_CONTACTS_ASSOCIATION  "
        "opportunity (Opportunity)          contact (Contact)  SYSTEM_DEFINED\n"
        "BUSINESSES_CONTACTS_ASSOCIATION     BUSINESSES_CONTACTS_ASSOCIATION     "
        "business (Company)                 contact (Contact)  SYSTEM_DEFINED\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "samples/nope.csv"], "samples/nope.csv"),
        (
            ["run", "samples/relations.csv", "--concurrency", "0"],
            "Error: --concurrency: Input should be greater than or equal to 1 (got 0).\n",
        ),
        (
            ["run", "samples/relations.csv", "--association", "nope"],
            "Error: The association 'nope' does not exist in location ldwDemoLocation00001.",
        ),
        (
            ["run", "samples/relations.csv", "--first-column", "Student"],
            "Error: samples/relations.csv: there is no column 'Student' for the first ids.",
        ),
        (
            ["run", "samples/relations.csv", "--base-url", "http://crm.example.com"],
            "plain http:// is only allowed for 127.0.0.1/localhost; use https://",
        ),
        (
            ["run", "samples/relations.csv", "--config", "missing.yaml"],
            "Error: missing.yaml: the config file does not exist.",
        ),
        (
            ["associations", "--location-id", "ldwNoSuchLocation001"],
            "Error: The token may not access location ldwNoSuchLocation001 (403",
        ),
    ],
)
def test_user_mistakes_get_one_clear_line_and_exit_2(
    in_repo: Path, args: list[str], message: str
) -> None:
    code, out, err = invoke(*args)
    assert code == 2
    assert out == ""
    assert message in err
    assert "Traceback" not in err
    assert not list(in_repo.glob("results/*"))  # no result, no journal: nothing half-written


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--out", "/proc/nope/x.csv"],
            "Error: /proc/nope/x.csv: the result file cannot be "
            "written there (No such file or directory). Choose another --out, or run from a folder "
            "you can write to.\n",
        ),
        (
            ["--out", "samples"],
            "Error: samples: this is a folder; give --out a file name, e.g. samples/results.csv\n",
        ),
    ],
)
def test_a_result_path_that_cannot_be_written_stops_before_sending(
    in_repo: Path, args: list[str], message: str
) -> None:
    code, out, err = invoke("run", "samples/relations.csv", *args)
    assert (code, out, err) == (2, "", message)


def test_a_file_with_only_a_header_is_refused(in_repo: Path) -> None:
    (in_repo / "empty.csv").write_text("Student ID,Teacher ID\n")
    code, _, err = invoke("run", "empty.csv")
    assert (code, err) == (
        2,
        "Error: empty.csv: there are no rows to process under the header. "
        "Check that this is the right file (or sheet, or --only statuses).\n",
    )


def test_a_real_target_needs_a_token(in_repo: Path) -> None:
    code, _, err = invoke("run", "samples/relations.csv", "--base-url", "https://127.0.0.1:9")
    assert code == 2
    assert err == (
        "Error: No API token: set the environment variable LEADWAY_TOKEN to the location's "
        "token (a Private Integration token or an OAuth access token).\n"
    )


def test_every_option_is_documented_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    commands = {
        "run": main.commands["run"],
        "validate": main.commands["validate"],
        "associations": main.commands["associations"],
        "undo": main.commands["undo"],
        "split": main.commands["split"],
        "merge": main.commands["merge"],
    }
    group = main.commands["sandbox"]
    assert isinstance(group, click.Group)
    commands["sandbox serve"] = group.commands["serve"]
    ledger = main.commands["ledger"]
    assert isinstance(ledger, click.Group)
    commands.update({f"ledger {name}": command for name, command in ledger.commands.items()})
    for parameter in main.params:  # the options of relimport itself
        for option in parameter.opts:
            if option.startswith("--") and option not in ("--help", "--version"):
                assert option in readme, option
    for name, command in commands.items():
        assert f"relimport {name}" in readme, name
        for parameter in command.params:
            for option in parameter.opts:
                if option.startswith("--") and option != "--help":
                    assert option in readme, f"{name} {option}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["run", "samples/relations.csv", "--out", "samples/relations.csv"],
            "Error: samples/relations.csv: --out is the input file itself. "
            "Give the results another name.\n",
        ),
        (
            ["validate", "samples/relations.csv", "--out", "config.yaml"],
            "Error: config.yaml: a file is already there and is never overwritten. "
            "Choose another --out or move the old file away.\n",
        ),
        (
            ["run", "samples/relations.csv", "--encoding", "utf-16"],
            "Error: relations.csv: the file cannot be read as utf-16 (UTF-16 stream does not start "
            "with BOM). Give another --encoding (utf-16-le or utf-16-be for UTF-16 without a "
            "byte-order mark), or none to let relimport detect it.\n",
        ),
        (
            ["run", "samples/relations.csv", "--second-column", "Student ID"],
            "Error: --second-column: first_column and second_column are both 'Student ID'; "
            "each side of the relation needs its own column.\n",
        ),
    ],
)
def test_nothing_is_ever_written_over_and_mistakes_are_one_line(
    in_repo: Path, args: list[str], message: str
) -> None:
    before = {p: p.read_bytes() for p in in_repo.rglob("*") if p.is_file()}
    code, out, err = invoke(*args)
    assert (code, out, err) == (2, "", message)
    assert {p: p.read_bytes() for p in before} == before


def test_only_with_no_matching_row_is_nothing_to_do(in_repo: Path) -> None:
    invoke("run", "samples/relations.csv")
    code, out, err = invoke("run", "results/relations-results.csv", "--only", "failed,not_sent")
    assert (code, err) == (0, "")
    assert (
        out == "results/relations-results.csv: no row has the status failed, not_sent: "
        "nothing to do.\n"
    )


def test_quiet_prints_no_warning(in_repo: Path) -> None:
    config = in_repo / "config.yaml"
    config.write_text(config.read_text() + "# pit-1a2b3c4d-1111-4222-8333-444455556666\n")
    config.chmod(0o644)
    assert invoke("run", "samples/relations.csv", "--quiet") == (0, "", "")
    code, _, err = invoke("run", "samples/relations.csv")
    assert code == 0 and "seems to hold a token" in err


def test_json_prints_one_object_whatever_happened(in_repo: Path) -> None:
    code, out, err = invoke("--json", "run", "samples/relations.csv")
    outcome = json.loads(out)
    assert code == outcome["exit_code"] == 0 and err == ""
    assert outcome["outcome"] == "complete" and outcome["counts"] == {
        "created": 18,
        "already_exists": 2,
    }
    assert outcome == json.loads((in_repo / "results/relations-results.summary.json").read_text())
    code, out, err = invoke("--json", "run", "samples/nope.csv")
    assert code == 2 and json.loads(out) == {
        "exit_code": 2,
        "outcome": "not_started",
        "error": "samples/nope.csv: there is no such file. Check the file name and the folder.",
    }
    assert err.startswith("Error: samples/nope.csv")


def test_results_format_xlsx_writes_a_workbook_beside_the_csv(in_repo: Path) -> None:
    import openpyxl

    code, out, _ = invoke("run", "samples/relations-with-problems.csv", "--results-format", "xlsx")
    assert code == 1
    assert (
        "Results: results/relations-with-problems-results.csv and "
        "results/relations-with-problems-results.xlsx\n"
    ) in out
    rows = read_results(in_repo / "results/relations-with-problems-results.csv")
    book = openpyxl.load_workbook(in_repo / "results/relations-with-problems-results.xlsx")
    try:
        sheet = book["Rows"]
        assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref
        cells = [[c.value or "" for c in row] for row in sheet.iter_rows(min_row=2)]
        header = [c.value for c in sheet[1]]
        status = header.index("status")
        assert [line[status] for line in cells] == [r["status"] for r in rows]
        numbers = {header.index(name) for name in ("row", "http_status", "attempts")}
        for row in sheet.iter_rows():
            for index, c in enumerate(row):
                if c.value:  # relimport's own numbers are numbers; the rest is text
                    assert c.data_type == ("n" if index in numbers and c.row > 1 else "s")
        formula = next(line for line in cells if str(line[3]).startswith("=HYPERLINK"))
        assert formula[3] == '=HYPERLINK("http://example.invalid")'  # the text, inert
        assert {"Summary", "Help"} <= set(book.sheetnames)
    finally:
        book.close()


def test_a_start_of_the_command_loads_no_emulator_and_no_progress_bar() -> None:
    """Start-up is part of every run's time: ``relimport`` loads the sandbox's emulator and
    server only when the sandbox is the target (``sandbox serve``'s options need only its
    faults), tqdm only to draw a bar, openpyxl only for a workbook."""
    heavy = ["importer.sandbox.core", "importer.sandbox.server", "tqdm", "openpyxl"]
    code = f"import sys, importer.cli; print([m for m in {heavy!r} if m in sys.modules])"
    loaded = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]"
