"""Flags where people type them: relimport's own options after the command too."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from importer.cli import hoist_global_options, main
from tests.helpers import invoke

COMMANDS = ("run", "validate", "undo", "sandbox")


@pytest.mark.parametrize(
    ("given", "parsed"),
    [
        (["validate", "f.csv", "--json"], ["--json", "validate", "f.csv"]),
        (["run", "f.csv", "--lang", "es"], ["--lang", "es", "run", "f.csv"]),
        (["run", "--lang=es", "f.csv"], ["--lang=es", "run", "f.csv"]),
        (
            ["--json", "run", "f.csv", "--log-file", "l.log", "--log-level", "info", "--quiet"],
            ["--json", "--log-file", "l.log", "--log-level", "info", "run", "f.csv", "--quiet"],
        ),
        (["run", "--log-format", "json", "f.csv"], ["--log-format", "json", "run", "f.csv"]),
        (["run", "--", "--json"], ["run", "--", "--json"]),  # a file named --json
        (["--lang", "es", "--help"], ["--lang", "es", "--help"]),  # no command: as typed
        (["sandbox", "serve", "--json"], ["--json", "sandbox", "serve"]),
        (["--log-file", "run", "validate", "--json"], ["--log-file", "run", "--json", "validate"]),
    ],
)
def test_the_groups_options_move_before_the_command(given: list[str], parsed: list[str]) -> None:
    assert hoist_global_options(given, COMMANDS) == parsed


def test_validate_json_after_the_command_prints_the_outcome(in_repo: Path) -> None:
    code, out, _ = invoke("validate", "samples/relations.csv", "--json", "--quiet")
    assert code == 0
    assert json.loads(out)["outcome"] == "complete"


def test_lang_after_the_command_speaks_spanish(in_repo: Path) -> None:
    code, out, _ = invoke("validate", "samples/relations.csv", "--lang", "es")
    assert code == 0
    assert out.startswith("Simulación (dry run) de samples/relations.csv")
    result = CliRunner().invoke(main, ["run", "--help", "--lang", "es"])
    assert result.stdout.startswith("Uso: main run [OPTIONS] INPUT\n")


@pytest.mark.parametrize("command", ["associations", "doctor"])
def test_every_command_takes_them(in_repo: Path, command: str) -> None:
    code, out, err = invoke(command, "--json", "--log-file", "run.log", "--log-level", "info")
    assert "No such option" not in err
    assert code == 0, err
    assert out


def test_undo_takes_them_too(in_repo: Path) -> None:
    invoke("run", "samples/relations.csv")
    code, out, _ = invoke("undo", "results/relations-results.csv", "--dry-run", "--json")
    assert code == 0
    assert json.loads(out)["title"].startswith("Dry run of the undo of ")


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ["validate", "samples/relations.csv", "--json", "--bogus"],
            "No such option '--bogus'. (Did you mean one of: '--out', '--rows'?)",
        ),
        (
            ["--json", "run", "samples/relations.csv", "--rows", "5-2"],
            "Invalid value for '--rows': 5-2 ends before it starts: give the first row first",
        ),
        (["--json", "--bogus", "validate"], "No such option '--bogus'."),  # the group's own
        (["--json", "nosuch"], "No such command 'nosuch'."),
        (  # the JSON stays English, as every file does
            ["--lang", "es", "--json", "validate", "--bogus"],
            "No such option '--bogus'. (Did you mean one of: '--out', '--rows'?)",
        ),
    ],
)
def test_with_json_a_usage_error_prints_one_json_object(
    in_repo: Path, args: list[str], error: str
) -> None:
    code, out, err = invoke(*args)
    assert code == 2
    assert json.loads(out) == {"exit_code": 2, "outcome": "not_started", "error": error}
    assert out.count("\n") == 1  # one object, once, whichever contexts the error crossed
    assert "Error: " in err  # for the person, as without --json (in their language)
    assert not (in_repo / "results").exists()


def test_without_json_a_usage_error_prints_nothing_on_stdout(in_repo: Path) -> None:
    code, out, _ = invoke("validate", "samples/relations.csv", "--bogus")
    assert (code, out) == (2, "")
