"""End to end through the in-process sandbox: read -> validate -> send -> record."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

import httpx
import pytest

from importer.errors import AuthError, ConfigError, InputError
from importer.models import Status
from importer.run import run_import
from importer.sandbox import (
    DEMO_LOCATION,
    STUDENT_TEACHER_ID,
    FaultPlan,
    Limits,
    Sandbox,
    student_id,
    teacher_id,
)
from tests.conftest import SAMPLES, FakeTime, demo_settings, read_results
from tests.helpers import (
    assert_settled,
    every_fault,
    fast_retry,
    grid,
    grid_file,
    relations_on,
    run_noting,
    seeded,
)


def test_the_clean_sample_creates_or_finds_every_pair(tmp_path: Path) -> None:
    sandbox = Sandbox()
    summary = run_import(
        SAMPLES / "relations.csv", demo_settings(tmp_path), transport=sandbox.transport()
    )
    assert summary.exit_code == 0
    assert summary.counts == {Status.CREATED: 18, Status.ALREADY_EXISTS: 2}
    rows = read_results(summary.result_path)
    assert [row["row"] for row in rows] == [str(n) for n in range(2, 22)]
    for row in rows:
        assert sandbox.has_relation(
            DEMO_LOCATION, STUDENT_TEACHER_ID, row["Student ID"], row["Teacher ID"]
        )
    server_ids = {r["id"] for r in sandbox.relations(DEMO_LOCATION)}
    created = [row["relation_id"] for row in rows if row["status"] == "created"]
    assert len(set(created)) == 18 and set(created) <= server_ids
    stats = sandbox.stats(DEMO_LOCATION)
    assert stats.by_route["POST /associations/relations"] == 20
    assert summary.requests == stats.requests == 21  # 20 creates + 1 association look-up


def test_the_xlsx_sample_gives_the_same_results_as_the_csv(tmp_path: Path) -> None:
    from_csv = run_import(
        SAMPLES / "relations.csv", demo_settings(tmp_path), transport=Sandbox().transport()
    )
    from_xlsx = run_import(
        SAMPLES / "relations.xlsx",
        demo_settings(tmp_path, out=tmp_path / "x.csv"),
        transport=Sandbox().transport(),
    )
    strip = lambda rows: [(r["row"], r["status"]) for r in rows]  # noqa: E731
    assert strip(read_results(from_xlsx.result_path)) == strip(read_results(from_csv.result_path))


EXPECTED_PROBLEMS = [
    ("2", "created", ""),
    ("3", "already_exists", ""),
    ("4", "duplicate_row", "duplicate_row"),
    ("5", "invalid", "first_id_blank"),
    ("6", "invalid", "second_id_malformed"),
    ("7", "invalid", "same_record"),
    ("8", "invalid", "second_id_blank"),
    ("9", "failed", "rejected"),
    ("10", "failed", "rejected"),
    ("11", "invalid", "short_row"),
    ("12", "created", ""),
]


def test_the_problem_sample_shows_each_status(tmp_path: Path) -> None:
    summary, notices = run_noting(
        SAMPLES / "relations-with-problems.csv", demo_settings(tmp_path), Sandbox().transport()
    )
    assert summary.exit_code == 1
    rows = read_results(summary.result_path)
    assert [(r["row"], r["status"], r["error_code"]) for r in rows] == EXPECTED_PROBLEMS
    assert rows[10]["Note"].startswith("'=HYPERLINK")  # formula neutralised
    assert notices == [
        f"{SAMPLES / 'relations-with-problems.csv'}: row 10: warning: the Student id in column "
        "'Student ID' (cTeacher000000000006) does not look like a custom_objects.students id "
        "(usually 24 hexadecimal characters); check the column order."
    ]


def test_strict_ids_stop_swapped_columns_before_sending(tmp_path: Path) -> None:
    sandbox = Sandbox()
    summary = run_import(
        SAMPLES / "relations-with-problems.csv",
        demo_settings(tmp_path, strict_ids=True),
        transport=sandbox.transport(),
    )
    rows = read_results(summary.result_path)
    assert (rows[8]["status"], rows[8]["error_code"]) == ("invalid", "first_id_shape")
    assert sandbox.stats(DEMO_LOCATION).by_route["POST /associations/relations"] == 4


def test_a_dry_run_sends_no_write_and_marks_what_would_be_sent(tmp_path: Path) -> None:
    sandbox = Sandbox()
    summary = run_import(
        SAMPLES / "relations-with-problems.csv",
        demo_settings(tmp_path),
        dry_run=True,
        transport=sandbox.transport(),
    )
    assert "POST /associations/relations" not in sandbox.stats(DEMO_LOCATION).by_route
    statuses = Counter(row["status"] for row in read_results(summary.result_path))
    assert statuses == {"valid": 5, "invalid": 5, "duplicate_row": 1}
    assert summary.exit_code == 1


@pytest.mark.slow
def test_every_row_once_and_every_pair_once_under_faults(tmp_path: Path) -> None:
    """The invariant: faults on, limits shrunk; nothing lost, nothing doubled."""
    sandbox = seeded(
        40,
        5,
        limits=Limits(burst=40, interval=0.25),
        faults=every_fault(fail_every=5, timeout_every=11, timeout_delay=0.3, latency=0.002),
    )
    pairs = grid(40, 5)
    path = grid_file(tmp_path / "many.csv", pairs, list(pairs[3]), ["", teacher_id(1)])
    settings = demo_settings(
        tmp_path,
        concurrency=6,
        timeouts={"read": 0.1, "connect": 1},
        retry=fast_retry(8),
        rate_limit={"max_requests": 40, "window_seconds": 0.25},
    )
    summary = run_import(path, settings, transport=sandbox.transport())
    results = read_results(summary.result_path)
    assert_settled(sandbox, results, len(pairs) + 2)
    statuses = Counter(r["status"] for r in results)
    assert statuses == {"created": 198, "already_exists": 2, "duplicate_row": 1, "invalid": 1}
    assert len(relations_on(sandbox)) == 200
    stats = sandbox.stats(DEMO_LOCATION)
    assert stats.server_errors > 0 and stats.dropped > 0 and stats.timed_out > 0
    assert stats.max_in_window <= 40


class RevokedAfter(httpx.AsyncBaseTransport):
    """The token is revoked after ``creates`` creates: every later request gets 401."""

    def __init__(self, inner: httpx.AsyncBaseTransport, creates: int) -> None:
        self.inner = inner
        self.left = creates

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            if self.left <= 0:
                return httpx.Response(401, json={"statusCode": 401, "message": "Invalid JWT"})
            self.left -= 1
        return await self.inner.handle_async_request(request)


def test_a_token_revoked_mid_run_stops_it_and_every_row_is_still_reported(tmp_path: Path) -> None:
    path = grid_file(tmp_path / "in.csv", grid(30, 1))
    summary = run_import(
        path,
        demo_settings(tmp_path, concurrency=1),
        transport=RevokedAfter(seeded(30, 1, relations=False).transport(), 10),
    )
    assert summary.exit_code == 3
    assert summary.stopped is not None and "refused the token" in summary.stopped
    statuses = [r["status"] for r in read_results(summary.result_path)]
    assert statuses == ["created"] * 10 + ["not_sent"] * 20


def test_an_unknown_association_lists_the_keys_that_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        run_import(
            SAMPLES / "relations.csv",
            demo_settings(tmp_path, association="teachers"),
            transport=Sandbox().transport(),
        )
    assert str(caught.value) == (
        f"The association 'teachers' does not exist in location {DEMO_LOCATION}. Associations "
        "there: student_teacher (67c1f2a3b4c5d6e7f8a90001), OPPORTUNITIES_CONTACTS_ASSOCIATION "
        "(OPPORTUNITIES_CONTACTS_ASSOCIATION), BUSINESSES_CONTACTS_ASSOCIATION "
        "(BUSINESSES_CONTACTS_ASSOCIATION). Set association to one of these keys or ids."
    )
    assert not (tmp_path / "results.csv").exists()


def test_a_missing_column_names_the_columns_found(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="Columns found: 'Student ID', 'Teacher ID', 'Student"):
        run_import(
            SAMPLES / "relations.csv",
            demo_settings(tmp_path, second_column="Tutor"),
            transport=Sandbox().transport(),
        )


def test_a_bad_token_stops_before_anything_is_written(tmp_path: Path) -> None:
    from pydantic import SecretStr

    settings = demo_settings(tmp_path).model_copy(update={"token": SecretStr("pit-wrong")})
    with pytest.raises(AuthError, match="refused the token"):
        run_import(SAMPLES / "relations.csv", settings, transport=Sandbox().transport())
    written = [p for p in tmp_path.rglob("*") if p.is_file() and not p.name.endswith(".lock")]
    assert written == []  # the run's locks (empty once released) are all it leaves
    assert all(lock.stat().st_size == 0 for lock in tmp_path.rglob("*.lock"))


def test_an_existing_out_file_is_never_overwritten(tmp_path: Path) -> None:
    (tmp_path / "results.csv").write_text("precious")
    with pytest.raises(ConfigError, match="never overwritten"):
        run_import(
            SAMPLES / "relations.csv", demo_settings(tmp_path), transport=Sandbox().transport()
        )
    assert (tmp_path / "results.csv").read_text() == "precious"


def test_reading_errors_stop_the_run_before_any_request(tmp_path: Path) -> None:
    lines = "Student ID,Teacher ID\n" + f"{student_id(1)},{teacher_id(2)}\n" * 3 + '"unclosed,x\n'
    path = tmp_path / "broken.csv"
    path.write_text(lines, encoding="utf-8")
    sandbox = Sandbox()
    with pytest.raises(InputError, match=r"broken\.csv"):
        run_import(path, demo_settings(tmp_path), transport=sandbox.transport())
    assert sandbox.stats(DEMO_LOCATION).requests == 0


def test_the_library_runs_inside_an_existing_event_loop(tmp_path: Path) -> None:
    from importer.run import import_file

    summary = asyncio.run(
        import_file(
            SAMPLES / "relations.csv", demo_settings(tmp_path), transport=Sandbox().transport()
        )
    )
    assert summary.exit_code == 0


def test_a_spent_daily_budget_stops_the_location_and_leaves_rows_not_sent(tmp_path: Path) -> None:
    sandbox = seeded(20, 1, relations=False, limits=Limits(daily=11))
    path = grid_file(tmp_path / "in.csv", grid(20, 1))
    summary = run_import(
        path, demo_settings(tmp_path, concurrency=1), transport=sandbox.transport()
    )
    assert summary.exit_code == 5
    results = read_results(summary.result_path)
    assert [r["status"] for r in results] == ["created"] * 10 + ["not_sent"] * 10
    assert {r["error_code"] for r in results[10:]} == {"daily_budget"}
    assert "daily request budget is spent" in results[-1]["error"]
    assert summary.not_sent_reasons and "resets each day" in summary.not_sent_reasons[0]
    assert sandbox.stats(DEMO_LOCATION).rate_limited == 0  # stopped on the header, no 429


@pytest.mark.slow
@pytest.mark.parametrize(
    "faults",
    [
        FaultPlan(advertised_max=60),  # the server allows 20, its headers say 60
        FaultPlan(limit_drops_to=8, limit_drops_after=30),  # the limit drops mid-run
        FaultPlan(rate_limit_headers=False),  # no headers at all
    ],
    ids=["stricter-than-advertised", "limit-drops", "no-headers"],
)
def test_servers_that_misreport_their_limit_lose_no_row(tmp_path: Path, faults: FaultPlan) -> None:
    sandbox = seeded(80, 1, relations=False, limits=Limits(burst=20, interval=0.2), faults=faults)
    path = grid_file(tmp_path / "in.csv", grid(80, 1))
    settings = demo_settings(
        tmp_path, rate_limit={"max_requests": 60, "window_seconds": 0.2}, retry=fast_retry(20)
    )
    summary = run_import(path, settings, transport=sandbox.transport())
    assert summary.exit_code == 0
    assert summary.counts == {Status.CREATED: 80}
    assert len(sandbox.relations(DEMO_LOCATION)) == 80
    assert summary.rate_limited == sandbox.stats(DEMO_LOCATION).rate_limited


class BusyAtFirst(httpx.AsyncBaseTransport):
    """The first ``busy`` requests get 429 (another integration used the budget)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, busy: int) -> None:
        self.inner, self.busy = inner, busy

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self.busy > 0:
            self.busy -= 1
            return httpx.Response(
                429,
                json={"statusCode": 429, "message": "Too many requests"},
                headers={"Retry-After": "0"},
            )
        return await self.inner.handle_async_request(request)


def test_the_association_look_up_is_retried_like_any_request(tmp_path: Path) -> None:
    """Two 429s on the association's look-up: retried, and the pacing they cause passes on
    the virtual clock given to run_import (no real second is spent)."""
    time = FakeTime()
    settings = demo_settings(tmp_path)
    summary = run_import(
        SAMPLES / "relations.csv",
        settings,
        transport=BusyAtFirst(Sandbox().transport(), 2),
        sleep=time.sleep,
        clock=time.clock,
    )
    assert summary.exit_code == 0
    assert summary.rate_limited == 2
    assert time.now > 1.0  # the limiter's pacing after the 429s, on the virtual clock


def test_the_library_writes_what_the_command_line_writes(tmp_path: Path) -> None:
    """run_import, not only the CLI, leaves summary.json, plan.json and the workbook."""
    out = tmp_path / "results.csv"
    summary = run_import(
        SAMPLES / "relations.csv",
        demo_settings(tmp_path, results_format="both"),
        transport=Sandbox().transport(),
        resume_command="relimport run samples/relations.csv",
    )
    written = json.loads((tmp_path / "results.summary.json").read_text(encoding="utf-8"))
    assert written == summary.as_json("relimport run samples/relations.csv")
    assert (tmp_path / "results.xlsx").stat().st_size > 0
    dry = run_import(
        SAMPLES / "relations.csv",
        demo_settings(tmp_path, out=tmp_path / "dry.csv"),
        dry_run=True,
        transport=Sandbox().transport(),
    )
    assert dry.plan is not None
    plan = json.loads((tmp_path / "dry.plan.json").read_text(encoding="utf-8"))
    assert plan == dry.plan.as_json()
    assert out.exists()


def test_validate_then_run_with_the_same_out_replaces_the_dry_runs_file(tmp_path: Path) -> None:
    """The nightly recipe's `validate --out X` then `run --out X`: a dry run keeps nothing."""
    sandbox = Sandbox()
    settings = demo_settings(tmp_path)
    dry = run_import(
        SAMPLES / "relations.csv", settings, dry_run=True, transport=sandbox.transport()
    )
    assert dry.result_path == tmp_path / "results.csv"
    real, notices = run_noting(SAMPLES / "relations.csv", settings, sandbox.transport())
    assert f"{real.result_path}: the results of a dry run are replaced by this run's." in notices
    assert real.counts == {Status.CREATED: 18, Status.ALREADY_EXISTS: 2}
    with pytest.raises(ConfigError, match="a file is already there and is never overwritten"):
        run_import(  # a real run's results are never replaced, not even by a dry run
            SAMPLES / "relations.csv", settings, dry_run=True, transport=sandbox.transport()
        )
