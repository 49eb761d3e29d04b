"""Never lose track of a write: rows in doubt settle, one run per result file and location,
an unreachable API stops the run, files that cannot be written are said, Ctrl-C in any phase.

The end-to-end tests run the command as a real process against a sandbox served on loopback.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from importer.api import Client, RateLimiter, RateLimits, RetryPolicy
from importer.cli import format_summary
from importer.errors import UnreachableError
from importer.models import EXIT_UNWRITTEN, Outcome, Pair, Status
from importer.report import Hooks, summary_path
from importer.run import Job, Sender, run_import
from importer.sandbox import (
    DEMO_LOCATION,
    Answer,
    FaultPlan,
    Limits,
    Sandbox,
    demo_seed,
    serve,
    student_id,
    teacher_id,
)
from tests.conftest import SAMPLES, FakeTime, demo_settings, read_results
from tests.helpers import (
    CONFIG,
    HEADER,
    grid,
    grid_file,
    pairs_file,
    seeded,
    start,
    wait_for_creates,
)

MISSING = "ffffffffffffffffffffffff"  # a student id no record has


class CountingSandbox(Sandbox):
    """Counts the creates each pair received (a pair POSTed twice is a write lost track of)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.posts: Counter[tuple[str, str]] = Counter()

    def handle(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes = b""
    ) -> Answer:
        if method.upper() == "POST" and target.startswith("/associations/relations"):
            sent = json.loads(body)
            self.posts[sent.get("firstRecordId", ""), sent.get("secondRecordId", "")] += 1
        return super().handle(method, target, headers, body)


# --- a row in doubt settles on a definitive answer ---------------------------------------------


@pytest.mark.slow
def test_kill_9s_then_resume_post_no_pair_more_than_twice_and_a_rerun_sends_nothing(
    tmp_path: Path,
) -> None:
    """Rows whose record does not exist are refused (400) after their earlier answer was lost:
    that settles them, so a re-run of the finished file sends no create at all."""
    pairs = grid(40, 3)
    missing = [(MISSING, teacher_id(t)) for t in range(1, 4)]
    grid_file(tmp_path / "in.csv", pairs + missing)
    (tmp_path / "config.yaml").write_text(CONFIG)
    sandbox = CountingSandbox(
        demo_seed(students=40, teachers=3, relations=False),
        limits=Limits(burst=100, interval=0.5),
        # latency, so that kills land while creates are in flight (answers lost in transit by
        # faults are retried by design, and counted by the soak and sender tests instead)
        faults=FaultPlan(latency=0.05, latency_jitter=0.05),
    )
    kills = 0
    with serve(sandbox) as server:
        for _ in range(10):
            process = start(["run", "in.csv", "--quiet"], tmp_path, server.url)
            try:
                process.wait(timeout=0.8)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGKILL)
                kills += 1
            process.communicate()
        assert kills >= 2, "the run finished before it could be killed: make it longer"
        sandbox.set_faults(FaultPlan())
        finished = start(["--json", "run", "in.csv"], tmp_path, server.url)
        out, err = finished.communicate(timeout=60)
        assert finished.returncode == 1, err  # the rows of the missing record failed
        again = start(["--json", "run", "in.csv"], tmp_path, server.url)
        again_out, err = again.communicate(timeout=60)
    outcome, rerun = json.loads(out), json.loads(again_out)
    assert max(sandbox.posts.values()) <= 2, sandbox.posts.most_common(3)
    assert rerun["requests"] == 0 and rerun["resumed"] == len(pairs) + len(missing)
    rows = read_results(tmp_path / outcome["results"])
    refused = [r for r in rows if r["Student ID"] == MISSING]
    assert {(r["status"], r["error_code"]) for r in refused} == {("failed", "rejected")}
    assert Counter(r["status"] for r in rows if r["Student ID"] != MISSING) == {
        "created": len(pairs)
    }


# --- an unreachable API stops the run ----------------------------------------------------------


def refuse_connections(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("[Errno 111] Connection refused", request=request)


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_rows_in_a_row_with_no_answer_stop_the_run_instead_of_failing_each(
    anyio_backend: str,
) -> None:
    fake = FakeTime()
    client = Client(
        base_url="https://api.test",
        token=SecretStr("t"),
        api_version="2021-07-28",
        limiter=RateLimiter(RateLimits(), clock=fake.clock, sleep=fake.sleep),
        transport=httpx.MockTransport(refuse_connections),
    )
    policy = RetryPolicy(
        max_attempts=2, backoff_initial=4.0, unreachable_failures=10, unreachable_seconds=30
    )
    sender = Sender(client, retry=policy, concurrency=2, sleep=fake.sleep, clock=fake.clock)
    outcomes: dict[int, Outcome] = {}

    async def jobs() -> AsyncIterator[Job]:
        for seq in range(200):
            yield Job(seq, seq + 2, "loc", "assoc", Pair(f"a{seq}", "b"))

    async def record(job: Job, outcome: Outcome) -> None:
        outcomes[job.seq] = outcome

    await sender.run(jobs(), record)
    await client.aclose()
    assert isinstance(sender.fatal, UnreachableError)
    assert sender.fatal_code == "unreachable"
    assert "the API at https://api.test did not answer" in str(sender.fatal)
    assert "Check --base-url and the network" in str(sender.fatal)
    tried = [o for o in outcomes.values() if o.attempts]
    assert 10 <= len(tried) < 30  # stopped after the streak, not after 200 rows
    assert {(o.status, o.error_code) for o in outcomes.values()} == {
        (Status.NOT_SENT, "unreachable")
    }
    assert len(outcomes) == 200  # every row still has its outcome


@pytest.mark.slow
def test_a_server_that_goes_away_mid_run_stops_it_with_exit_3_and_a_resumable_result(
    tmp_path: Path,
) -> None:
    pairs_file(tmp_path, students=100, teachers=2)
    (tmp_path / "config.yaml").write_text(
        CONFIG.replace(
            "max_attempts: 10", "max_attempts: 2, unreachable_failures: 5, unreachable_seconds: 1"
        ).replace("max_requests: 100", "max_requests: 10")
    )
    sandbox = seeded(100, 2, limits=Limits(burst=20, interval=0.5))
    server = serve(sandbox)
    try:
        process = start(["--json", "run", "in.csv"], tmp_path, server.url)
        wait_for_creates(sandbox, 10)
    finally:
        server.go_away()  # the API is gone: connections are refused from now on
    started = time.monotonic()
    out, err = process.communicate(timeout=90)
    assert process.returncode == 3, err
    assert time.monotonic() - started < 60  # not minutes of failing row after row
    outcome = json.loads(out)
    assert outcome["outcome"] == "stopped"
    assert f"the API at {server.url} did not answer" in outcome["stopped_because"]
    assert "Check --base-url and the network" in outcome["stopped_because"]
    assert outcome["resume_command"] == f"relimport --json run in.csv --base-url {server.url}"
    rows = read_results(tmp_path / outcome["results"])
    assert outcome["counts"]["created"] > 0
    assert {r["error_code"] for r in rows if r["status"] == "not_sent"} == {"unreachable"}
    assert outcome["requests"] < 200  # far fewer than one failing row after another


# --- one run per result file and per location --------------------------------------------------


def slow_server_config(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG.replace("max_requests: 100", "max_requests: 5"))


@pytest.mark.slow
def test_a_second_run_of_the_same_file_or_location_stops_then_waits_with_wait_lock(
    tmp_path: Path,
) -> None:
    _, pairs = pairs_file(tmp_path, students=30, teachers=2)
    slow_server_config(tmp_path)
    sandbox = seeded(30, 2, limits=Limits(burst=10, interval=0.5))
    with serve(sandbox) as server:
        first = start(["run", "in.csv", "--quiet"], tmp_path, server.url)
        wait_for_creates(sandbox, 3)
        same = start(["--json", "run", "in.csv"], tmp_path, server.url)
        out, err = same.communicate(timeout=30)
        assert same.returncode == 2, err
        assert (
            f"results/in-results.csv is in use by another relimport run (process {first.pid}" in err
        )
        assert "--wait-lock SECONDS" in err
        assert json.loads(out)["outcome"] == "not_started"
        other = start(["run", "in.csv", "--out", "other.csv"], tmp_path, server.url)
        _, err = other.communicate(timeout=30)
        assert other.returncode == 2, err
        assert f"Location {DEMO_LOCATION} is in use by another relimport run " in err
        assert "writing results/in-results.csv" in err
        waiting = start(["--json", "run", "in.csv", "--wait-lock", "120"], tmp_path, server.url)
        first.communicate(timeout=120)
        out, err = waiting.communicate(timeout=120)
    assert "waiting up to 120 s" in err
    assert first.returncode == 1  # the blank row
    outcome = json.loads(out)
    assert outcome["requests"] == 0 and outcome["resumed"] == len(pairs) + 2  # all settled
    assert not (tmp_path / "other.csv").exists()


@pytest.mark.slow
def test_the_lock_of_a_killed_run_is_taken_over(tmp_path: Path) -> None:
    pairs_file(tmp_path, students=30, teachers=2)
    slow_server_config(tmp_path)
    sandbox = seeded(30, 2, limits=Limits(burst=10, interval=0.5))
    with serve(sandbox) as server:
        killed = start(["run", "in.csv", "--quiet"], tmp_path, server.url)
        wait_for_creates(sandbox, 3)
        killed.send_signal(signal.SIGKILL)
        killed.communicate()
        resumed = start(["run", "in.csv"], tmp_path, server.url)
        _, err = resumed.communicate(timeout=120)
    assert resumed.returncode == 1, err
    assert f"(process {killed.pid} on " in err
    assert "the lock left by a run that ended without releasing it" in err
    assert "was taken over." in err


# --- files that cannot be written --------------------------------------------------------------


def block(path: Path) -> None:
    """Make ``path`` impossible to replace or remove, as a file open in Excel on Windows is:
    a folder with a file in it (works as root too, unlike permissions)."""
    path.unlink(missing_ok=True)
    path.mkdir()
    (path / "keep").write_text("x")


def unblock(path: Path) -> None:
    (path / "keep").unlink()
    path.rmdir()


def test_a_result_file_that_cannot_be_replaced_is_exit_6_and_the_same_command_writes_it(
    tmp_path: Path,
) -> None:
    path = grid_file(tmp_path / "in.csv", grid(8, 1))
    settings = demo_settings(tmp_path, state_dir=tmp_path / "state")
    sandbox = seeded(8, 1, relations=False)
    notices: list[str] = []
    out = tmp_path / "results.csv"
    blocked = False

    def on_row(_: Status) -> None:
        nonlocal blocked
        if not blocked:  # the user opens the result file in Excel while the run goes on
            block(out)
            blocked = True

    hooks = Hooks(on_row=on_row, on_notice=notices.append)
    summary = run_import(
        path,
        settings,
        transport=sandbox.transport(),
        hooks=hooks,
        resume_command="relimport run in.csv",
    )
    outcome = summary.as_json("relimport run in.csv")  # what the library wrote
    assert summary.exit_code == EXIT_UNWRITTEN
    assert (outcome["outcome"], outcome["results"]) == ("results_not_written", None)
    assert outcome["not_written"] == [str(out)]
    assert outcome["counts"] == {"created": 8}  # every row was sent: the summary says so
    assert outcome["resume_command"] == "relimport run in.csv"
    assert any(
        notice.startswith(f"{out}: could not be written (")
        and "close it; if it is read-only, make it writable; then run the same command again"
        in notice
        for notice in notices
    )
    assert json.loads(summary_path(out).read_text()) == outcome  # the truth, not a stale one
    assert not list(tmp_path.glob(".*.partial"))  # no half-written file left beside it
    unblock(out)
    again = run_import(path, settings, transport=sandbox.transport())
    assert (again.exit_code, again.requests, again.resumed) == (0, 0, 8)
    assert Counter(r["status"] for r in read_results(out)) == {"created": 8}


def test_a_summary_json_that_cannot_be_replaced_is_removed_or_said(tmp_path: Path) -> None:
    settings = demo_settings(tmp_path, state_dir=tmp_path / "state")
    path = grid_file(tmp_path / "in.csv", grid(1, 1))
    sandbox = seeded(1, 1, relations=False)
    block(summary_path(tmp_path / "results.csv"))
    notices: list[str] = []
    hooks = Hooks(on_error=notices.append)
    summary = run_import(path, settings, transport=sandbox.transport(), hooks=hooks)
    outcome = summary.as_json()
    where = str(summary_path(tmp_path / "results.csv"))
    assert (summary.exit_code, outcome["not_written"]) == (EXIT_UNWRITTEN, [where])
    assert outcome["results"] == str(tmp_path / "results.csv")  # the CSV itself is written
    assert (
        notices[-1] == f"{where}: it is from an earlier run and could not be removed either: "
        "ignore it"
    )


# --- Ctrl-C in every phase, and what the summary says on the sandbox ---------------------------


@pytest.mark.slow
def test_ctrl_c_while_a_large_file_is_read_exits_4_with_one_json_object(tmp_path: Path) -> None:
    """The command: exit 4, one line on stderr, one JSON object (when the signal comes, the
    reading or the start-up: either way nothing was sent)."""
    # 1.5 million rows: 630 pairs (90 students by 7 teachers) over and over, written at once
    block = "".join(f"{student_id(s % 90 + 1)},{teacher_id(s % 7 + 1)}\r\n" for s in range(630))
    (tmp_path / "in.csv").write_text(",".join(HEADER) + "\r\n" + block * 2381, newline="")
    (tmp_path / "config.yaml").write_text(CONFIG)
    with serve(seeded(90, 7)) as server:
        process = start(["--json", "run", "in.csv"], tmp_path, server.url)
        time.sleep(1.5)  # reading: no request yet
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    assert (process.returncode, err) == (4, "Interrupted before anything was sent.\n")
    assert json.loads(out)["outcome"] == "interrupted"


def test_an_interrupted_sandbox_run_says_running_again_starts_over(tmp_path: Path) -> None:
    summary = run_import(SAMPLES / "relations.csv", demo_settings(tmp_path))  # the sandbox
    counts = {Status.CREATED: 3, Status.NOT_SENT: 17}
    stopped = replace(summary, interrupted=True, resumable=False, counts=counts)
    text = format_summary(stopped)
    assert (
        "17 rows were not sent. The built-in sandbox keeps nothing between runs: running "
        "the same command again starts over." in text
    )
    assert "To resume" not in text
    assert stopped.as_json("relimport run x")["resume_command"] is None
