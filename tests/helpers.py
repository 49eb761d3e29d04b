"""Plain helpers shared by the test modules (fixtures and the virtual clock live in
conftest.py): the demo association and a row judge as the run builds it; the record grid, a
seeded sandbox, the fault plan and fast retries, and what every run must leave behind; nightly
runs of a growing export; relimport in a process (killed at will) or in this one (``invoke``)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from importer.api import Retries, RetryPolicy, connect, limiter_for
from importer.cli import main
from importer.config import Settings
from importer.models import Association, SourceRow
from importer.report import Hooks, RunSummary
from importer.run import run_import
from importer.sandbox import (
    DEMO_LOCATION,
    DEMO_TOKEN,
    STUDENT_TEACHER_ID,
    FaultPlan,
    Limits,
    Sandbox,
    demo_seed,
    student_id,
    teacher_id,
)
from importer.validate import AnswerCache, Checks, Judgement, Lookups
from tests.conftest import REPO, demo_settings, write_csv

#: The sandbox's student_teacher association (importer/sandbox/seed.py), as the API gives it.
STUDENT_TEACHER = Association(
    id=STUDENT_TEACHER_ID,
    key="student_teacher",
    first_object_key="custom_objects.students",
    first_object_label="Student",
    second_object_key="contact",
    second_object_label="Teacher",
)


def bound_checks(
    settings: Settings, header: tuple[str, ...], association: Association = STUDENT_TEACHER
) -> Checks:
    """A run's :class:`Checks` for one location and association, its columns found in
    ``header`` and its association known (as the pre-flight leaves them)."""
    checks = Checks(settings, "in.csv")
    checks.bind(header)
    checks.associations[settings.location_id or "", settings.association or ""] = association
    return checks


def lookups_for(settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> Lookups:
    """Look-ups through ``transport`` (a fresh sandbox's unless given), answers in memory."""
    client = connect(settings, limiter_for(settings), transport=transport or Sandbox().transport())
    return Lookups(client, Retries(RetryPolicy()), AnswerCache(None, "sandbox", 0), 4)


def judge_for(settings: Settings, header: tuple[str, ...]) -> Callable[[SourceRow], Judgement]:
    """``judge(row)`` as the run calls it for each row, nothing asked of the API (ids as
    written, records not checked: nothing to resolve)."""
    checks = bound_checks(settings, header)
    lookups = lookups_for(settings)
    return lambda row: checks.judge(row, lookups)


class RefusingSearch(httpx.AsyncBaseTransport):
    """The sandbox, but the contact search refuses one e-mail with a 422."""

    def __init__(self, sandbox: Sandbox, email: str) -> None:
        self._inner = sandbox.transport()
        self._email = email

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/contacts/search" and self._email in request.content.decode():
            return httpx.Response(422, json={"statusCode": 422, "message": ["email is invalid"]})
        return await self._inner.handle_async_request(request)


# -- the record grid and what a run leaves on the server --------------------------------------

HEADER = ["Student ID", "Teacher ID"]
CREATE = "POST /associations/relations"
#: The two relations the demo seed holds before any run.
SEEDED = frozenset({(student_id(1), teacher_id(1)), (student_id(2), teacher_id(1))})


def grid(students: int, teachers: int) -> list[tuple[str, str]]:
    """Every demo student (1..students) with every demo teacher (1..teachers), by student."""
    return [
        (student_id(s), teacher_id(t))
        for s in range(1, students + 1)
        for t in range(1, teachers + 1)
    ]


def grid_file(path: Path, pairs: Iterable[tuple[str, str]], *more: list[str]) -> Path:
    """A CSV of HEADER, one row per pair, then the ``more`` rows as they are."""
    return write_csv(path, [HEADER, *map(list, pairs), *more])


def seeded(
    students: int,
    teachers: int,
    *,
    relations: bool = True,
    limits: Limits | None = None,
    faults: FaultPlan | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Sandbox:
    """A sandbox of the demo seed with that many students and teachers."""
    seed = demo_seed(students=students, teachers=teachers, relations=relations)
    return Sandbox(seed, limits=limits, faults=faults, clock=clock)


def every_fault(**changes: float) -> FaultPlan:
    """Answers lost after the write, 503s and timeouts, each every few requests, with a little
    latency: what the invariants are tested under (``changes`` to vary it)."""
    plan = {
        "drop_after_write_every": 7,
        "fail_every": 11,
        "timeout_every": 13,
        "timeout_delay": 0.5,
        "latency": 0.003,
    }
    return FaultPlan(**{**plan, **changes})  # type: ignore[arg-type]


def fast_retry(max_attempts: int = 10) -> dict[str, object]:
    """The ``retry`` settings of a test with faults on: back-offs of hundredths of a second."""
    return {"max_attempts": max_attempts, "backoff_initial": 0.01, "backoff_max": 0.05}


def relations_on(sandbox: Sandbox) -> Counter[tuple[str, str]]:
    """The demo location's relations, as (first id, second id) -> how many."""
    return Counter(
        (r["firstRecordId"], r["secondRecordId"]) for r in sandbox.relations(DEMO_LOCATION)
    )


def assert_settled(sandbox: Sandbox, results: list[dict[str, str]], total: int) -> None:
    """Every row once, in order; no pair twice on the server; each created row carries the id
    of a relation there, each its own; rows found linked are the seed's, never this run's."""
    assert [r["row"] for r in results] == [str(n) for n in range(2, total + 2)]
    assert set(relations_on(sandbox).values()) <= {1}
    ids = {r["id"] for r in sandbox.relations(DEMO_LOCATION)}
    created = [r["relation_id"] for r in results if r["status"] == "created"]
    assert set(created) <= ids and len(set(created)) == len(created)
    found = {(r["Student ID"], r["Teacher ID"]) for r in results if r["status"] == "already_exists"}
    assert found <= SEEDED


# -- nightly runs of a growing export --------------------------------------------------------

#: A pace no nightly test waits for.
FAST = {"rate_limit": {"max_requests": 1000, "window_seconds": 1.0}}


def nightly_sandbox(faults: FaultPlan | None = None) -> Sandbox:
    """60 students and 6 teachers, none linked yet, a burst no nightly run reaches."""
    return seeded(60, 6, relations=False, limits=Limits(burst=1000, interval=1.0), faults=faults)


def export(tmp_path: Path, night: int, students: int, teachers: int = 3) -> Path:
    """A cumulative export: every pair so far (each student with ``teachers`` teachers)."""
    return grid_file(tmp_path / f"export-{night}.csv", grid(students, teachers))


def night(
    tmp_path: Path, sandbox: Sandbox, path: Path, number: int, **changes: object
) -> RunSummary:
    """Night ``number``'s run of ``path`` (results in night-N.csv, the ledger in tmp_path)."""
    settings = demo_settings(tmp_path, out=tmp_path / f"night-{number}.csv", **FAST, **changes)
    return run_import(path, settings, transport=sandbox.transport())


def run_noting(
    path: Path, settings: Settings, transport: httpx.AsyncBaseTransport, **options: object
) -> tuple[RunSummary, list[str]]:
    """``run_import`` through ``transport``: its summary, and the notices it gave in order."""
    notices: list[str] = []
    hooks = Hooks(on_notice=notices.append)
    return run_import(path, settings, transport=transport, hooks=hooks, **options), notices  # type: ignore[arg-type]


def delete(sandbox: Sandbox, relation_id: str) -> None:
    """A relation deleted in the CRM behind relimport's back."""
    headers = {"Authorization": f"Bearer {DEMO_TOKEN}", "Version": "2021-07-28"}
    path = f"/associations/relations/{relation_id}?locationId={DEMO_LOCATION}"
    answer = sandbox.handle("DELETE", path, headers, b"")
    assert answer.status == 200


# -- relimport in a process -------------------------------------------------------------------

#: config.yaml of the process tests: fast retries, short read timeouts.
CONFIG = """\
location_id: ldwDemoLocation00001
association: student_teacher
first_column: Student ID
second_column: Teacher ID
concurrency: 8
rate_limit: {max_requests: 100, window_seconds: 0.5}
retry: {max_attempts: 10, backoff_initial: 0.01, backoff_max: 0.1}
timeouts: {read: 0.3, connect: 2}
"""


def start(args: list[str], cwd: Path, url: str) -> subprocess.Popen[str]:
    """``relimport ARGS --base-url URL`` in a process of its own, with the demo token."""
    return subprocess.Popen(
        [sys.executable, "-m", "importer", *args, "--base-url", url],
        cwd=cwd,
        env={**os.environ, "LEADWAY_TOKEN": DEMO_TOKEN, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def pairs_file(tmp_path: Path, students: int, teachers: int) -> tuple[Path, list[tuple[str, str]]]:
    """in.csv: the grid, then a duplicate of its 6th pair and a row with no student id."""
    pairs = grid(students, teachers)
    return grid_file(tmp_path / "in.csv", pairs, list(pairs[5]), ["", teacher_id(1)]), pairs


def wait_for_creates(sandbox: Sandbox, count: int, limit: float = 30.0) -> None:
    """Block until the server has seen ``count`` creates (bounded, so a test never hangs)."""
    deadline = time.monotonic() + limit
    while sandbox.stats(DEMO_LOCATION).by_route.get(CREATE, 0) < count:
        assert time.monotonic() < deadline, "the run never got going"
        time.sleep(0.02)


def kill_until_done(
    command: list[str],
    cwd: Path,
    url: str,
    waits: Iterable[float],
    after_kill: Callable[[], None] = lambda: None,
) -> tuple[subprocess.Popen[str], int]:
    """Start ``command`` again after each kill -9 that ends a wait, until a run finishes
    within its wait: (that run, communicated; the kills). Fails when none does."""
    kills = 0
    for wait in waits:
        process = start(command, cwd, url)
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            process.wait()
            kills += 1
            after_kill()
            continue
        finally:
            process.communicate()
        return process, kills
    pytest.fail("the run never finished")


def invoke(*args: str) -> tuple[int, str, str]:
    """``relimport ARGS`` in this process: (exit code, stdout with its timings masked, stderr)."""
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    stdout = re.sub(r"Time: [\d.]+ s, [\d.]+ rows/s", "Time: T s, R rows/s", result.stdout)
    return result.exit_code, stdout, result.stderr
