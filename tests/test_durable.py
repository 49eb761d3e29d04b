"""Durable runs: kill -9 anywhere, Ctrl-C, resume, --only. Real processes, a loopback server."""

from __future__ import annotations

import json
import random
import signal
import time
from collections import Counter
from pathlib import Path

import pytest

from importer.models import Status
from importer.run import run_import
from importer.sandbox import DEMO_LOCATION, FaultPlan, Limits, Sandbox, serve
from tests.conftest import SAMPLES, FakeTime, demo_settings, read_results
from tests.helpers import (
    CONFIG,
    CREATE,
    assert_settled,
    every_fault,
    grid,
    grid_file,
    kill_until_done,
    pairs_file,
    relations_on,
    seeded,
    start,
    wait_for_creates,
)


def check_final_state(
    sandbox: Sandbox, results: list[dict[str, str]], total: int, pairs: list[tuple[str, str]]
) -> None:
    """Every row once; every valid pair once on the server; created rows carry their id."""
    assert_settled(sandbox, results, total)
    assert set(pairs) <= set(relations_on(sandbox))


@pytest.mark.slow
def test_kill_9_at_random_instants_then_resume_loses_and_doubles_nothing(tmp_path: Path) -> None:
    _, pairs = pairs_file(tmp_path, students=100, teachers=4)
    (tmp_path / "config.yaml").write_text(CONFIG)
    sandbox = seeded(100, 4, limits=Limits(burst=100, interval=0.5), faults=every_fault())
    chance = random.Random(20261128)
    with serve(sandbox) as server:
        waits = (chance.uniform(0.4, 2.5) for _ in range(12))
        process, kills = kill_until_done(["run", "in.csv", "--quiet"], tmp_path, server.url, waits)
        assert process.returncode == 1, process.stderr  # the blank row is invalid
        resumed = start(["run", "in.csv"], tmp_path, server.url)
        out, err = resumed.communicate(timeout=60)
    assert kills >= 2, "the run finished before it could be killed: make it longer"
    assert resumed.returncode == 1, err
    assert "Resumed: 402 rows were already settled (no request)." in out
    assert "Requests: 0 " in out
    results = read_results(tmp_path / "results/in-results.csv")
    check_final_state(sandbox, results, 402, pairs)
    statuses = Counter(r["status"] for r in results)
    assert statuses == {"created": 398, "already_exists": 2, "duplicate_row": 1, "invalid": 1}


@pytest.mark.slow
def test_ctrl_c_stops_cleanly_and_the_same_command_resumes(tmp_path: Path) -> None:
    _, pairs = pairs_file(tmp_path, students=60, teachers=3)
    (tmp_path / "config.yaml").write_text(CONFIG.replace("max_requests: 100", "max_requests: 20"))
    sandbox = seeded(60, 3, limits=Limits(burst=40, interval=0.5), faults=FaultPlan(latency=0.01))
    with serve(sandbox) as server:
        process = start(["run", "in.csv"], tmp_path, server.url)
        wait_for_creates(sandbox, 20)  # interrupt part-way, however slow the machine
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
        assert process.returncode == 4, err
        assert "Stopping: no new rows are sent" in err
        assert "To resume whenever you like, run the same command again:" in out
        assert f"relimport run in.csv --base-url {server.url}" in out
        summary = json.loads((tmp_path / "results/in-results.summary.json").read_text())
        assert (summary["exit_code"], summary["outcome"]) == (4, "interrupted")
        assert summary["resume_command"] == f"relimport run in.csv --base-url {server.url}"
        results = read_results(tmp_path / "results/in-results.csv")
        statuses = Counter(r["status"] for r in results)
        assert statuses["not_sent"] > 0 and statuses["created"] > 0
        assert {r["error_code"] for r in results if r["status"] == "not_sent"} == {"interrupted"}
        sent_before = sandbox.stats(DEMO_LOCATION).by_route[CREATE]
        resumed = start(["run", "in.csv", "--quiet"], tmp_path, server.url)
        resumed.communicate(timeout=60)
    assert resumed.returncode == 1
    results = read_results(tmp_path / "results/in-results.csv")
    check_final_state(sandbox, results, 182, pairs)
    creates = sandbox.stats(DEMO_LOCATION).by_route[CREATE]
    found = sum(1 for r in results if r["status"] == "created" and r["http_status"] == "200")
    assert creates - sent_before == statuses["not_sent"] - found  # one create per unsent row


def test_a_resume_after_the_daily_budget_sends_only_the_rest(tmp_path: Path) -> None:
    fake = FakeTime()
    sandbox = seeded(
        30, 1, relations=False, limits=Limits(daily=21, day_length=100.0), clock=fake.clock
    )
    path = grid_file(tmp_path / "in.csv", grid(30, 1))
    settings = demo_settings(tmp_path, concurrency=1)
    first = run_import(path, settings, transport=sandbox.transport())
    assert first.exit_code == 5
    assert first.counts == {"created": 20, "not_sent": 10}
    fake.now = 150.0  # the next day
    second = run_import(path, settings, transport=sandbox.transport())
    assert second.exit_code == 0
    assert second.resumed == 20
    assert second.requests == 10  # only the rows left: no look-up, no settled row again
    assert second.counts == {"created": 30}


def test_only_re_runs_the_chosen_rows_of_a_result_file(tmp_path: Path) -> None:
    first = run_import(
        SAMPLES / "relations-with-problems.csv",
        demo_settings(tmp_path),
        transport=Sandbox().transport(),
    )
    again = run_import(
        first.result_path,
        demo_settings(tmp_path, out=tmp_path / "again.csv"),
        only=frozenset({Status.FAILED, Status.INVALID}),
        transport=Sandbox().transport(),
    )
    rows = read_results(again.result_path)
    assert [(r["row"], r["status"]) for r in rows] == [
        ("5", "invalid"),
        ("6", "invalid"),
        ("7", "invalid"),
        ("8", "invalid"),
        ("9", "failed"),
        ("10", "failed"),
        ("11", "invalid"),  # the short row's teacher id is missing: blank in the result file
    ]
    assert list(rows[0])[:4] == ["Student ID", "Teacher ID", "Student name", "Note"]
    assert "status" in rows[0] and "result_status" not in rows[0]


@pytest.mark.slow
def test_ctrl_c_before_sending_stops_at_once_and_sends_nothing(tmp_path: Path) -> None:
    pairs_file(tmp_path, students=6, teachers=1)
    (tmp_path / "config.yaml").write_text(CONFIG)
    sandbox = seeded(6, 1, faults=FaultPlan(latency=2.0))
    with serve(sandbox) as server:
        process = start(["--json", "run", "in.csv"], tmp_path, server.url)
        time.sleep(1.5)  # the association look-up is under way
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 4
    assert err.startswith("Stopping: the questions still open to the API are dropped; the ")
    outcome = json.loads(out)  # a scheduler's one object, even now
    assert (outcome["exit_code"], outcome["outcome"]) == (4, "interrupted")
    assert list(outcome["counts"]) == ["not_sent"]  # a result file, every row in it, resumable
    assert outcome["resume_command"] == f"relimport --json run in.csv --base-url {server.url}"
    assert CREATE not in sandbox.stats(DEMO_LOCATION).by_route
    rows = read_results(tmp_path / outcome["results"])
    assert {(r["status"], r["error_code"]) for r in rows} == {("not_sent", "interrupted")}
