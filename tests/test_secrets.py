"""The token never appears in anything relimport prints or writes."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from importer.cli import main
from importer.sandbox import (
    DEMO_LOCATION,
    OTHER_LOCATION,
    FaultPlan,
    Limits,
    Sandbox,
    Token,
    serve,
)
from tests.conftest import SAMPLES

SECRET = "pit-7d1e2f3a-aaaa-4bbb-8ccc-secretsecret"

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["run", str(SAMPLES / "relations.csv")], 0),
        (["run", str(SAMPLES / "relations-with-problems.csv")], 1),
        (["validate", str(SAMPLES / "relations-with-problems.csv")], 1),
        (["run", str(SAMPLES / "relations.csv"), "--location-id", OTHER_LOCATION], 2),
        (["associations"], 0),
    ],
)
def test_no_byte_of_output_or_results_holds_the_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], code: int
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.yaml").write_text(
        "rate_limit: {max_requests: 50, window_seconds: 0.5}\n"
        "retry: {backoff_initial: 0.01, backoff_max: 0.05}\n"
    )
    sandbox = Sandbox(
        tokens=(Token(SECRET, (DEMO_LOCATION,)),),
        limits=Limits(burst=50, interval=0.5),
        faults=FaultPlan(fail_every=3, drop_after_write_every=4),
    )
    with serve(sandbox) as server:
        result = CliRunner().invoke(
            main,
            ["--log-file", "debug.log", "--log-format", "json", *args, "--base-url", server.url]
            + ([] if "--location-id" in args else ["--location-id", DEMO_LOCATION]),
            env={
                "LEADWAY_TOKEN": SECRET,
                "RELIMPORT_ASSOCIATION": "student_teacher",
                "RELIMPORT_FIRST_COLUMN": "Student ID",
                "RELIMPORT_SECOND_COLUMN": "Teacher ID",
            },
        )
    assert result.exit_code == code, result.output
    produced = (result.stdout + result.stderr).encode()
    files = [path for path in tmp_path.rglob("*") if path.is_file()]
    if args[0] == "run" and code != 2:
        assert any(path.name.endswith(".journal") for path in files)
    assert b'"event": "request"' in (tmp_path / "debug.log").read_bytes()  # debug logging on
    for path in files:  # results, journal (and its WAL), anything else left behind
        produced += path.read_bytes()
    assert SECRET.encode() not in produced
    assert SECRET[4:20].encode() not in produced


def test_a_refused_token_is_not_echoed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with serve(Sandbox()) as server:
        result = CliRunner().invoke(
            main,
            [
                "run",
                str(SAMPLES / "relations.csv"),
                "--base-url",
                server.url,
                "--location-id",
                DEMO_LOCATION,
                "--association",
                "student_teacher",
                "--first-column",
                "Student ID",
                "--second-column",
                "Teacher ID",
            ],
            env={"LEADWAY_TOKEN": SECRET},
        )
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: The API refused the token (401 Invalid JWT). Put a valid, unexpired token in "
        "the environment variable $LEADWAY_TOKEN.\n"
    )


def test_an_interrupted_run_writes_no_byte_of_the_token(tmp_path: Path) -> None:
    import os
    import signal
    import subprocess
    import sys
    import time

    from importer.sandbox import demo_seed, student_id, teacher_id
    from tests.conftest import REPO, write_csv

    write_csv(
        tmp_path / "in.csv",
        [["Student ID", "Teacher ID"], *([student_id(s), teacher_id(1)] for s in range(1, 41))],
    )
    (tmp_path / "config.yaml").write_text(
        "location_id: ldwDemoLocation00001\nassociation: student_teacher\n"
        "first_column: Student ID\nsecond_column: Teacher ID\n"
        "rate_limit: {max_requests: 10, window_seconds: 1}\n"
    )
    sandbox = Sandbox(demo_seed(students=40, teachers=1), tokens=(Token(SECRET, (DEMO_LOCATION,)),))
    with serve(sandbox) as server:
        process = subprocess.Popen(
            [sys.executable, "-m", "importer", "run", "in.csv", "--base-url", server.url],
            cwd=tmp_path,
            env={**os.environ, "LEADWAY_TOKEN": SECRET, "PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        time.sleep(1.5)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 4
    produced = out + err + b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert SECRET.encode() not in produced
    assert SECRET[4:20].encode() not in produced
