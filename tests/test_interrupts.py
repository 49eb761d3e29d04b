"""Ctrl-C in-process: ``run_import(interruptible=True)`` with a real SIGINT raised in this
process while the run asks its questions or sends (test_durable.py does it to a real process
through a socket; this is the quick, exact version)."""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from pathlib import Path

import httpx

from importer.models import Status
from importer.report import Hooks
from importer.run import run_import
from importer.sandbox import DEMO_LOCATION, Sandbox, student_id, teacher_id
from tests.conftest import demo_settings, read_results, write_csv
from tests.helpers import run_noting

CREATE = "POST /associations/relations"


class CtrlC(httpx.AsyncBaseTransport):
    """The sandbox, but the first ``method path`` request is preceded by ``presses`` SIGINTs
    to this process, as a person pressing Ctrl-C then would. Each request lets the event loop
    turn (as a network would), so the signal's handler runs while requests are on their way."""

    def __init__(self, sandbox: Sandbox, route: str, presses: int = 1) -> None:
        self._inner = sandbox.transport()
        self._route = route
        self._presses = presses

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if f"{request.method} {request.url.path}" == self._route and self._presses:
            for _ in range(self._presses):
                signal.raise_signal(signal.SIGINT)
            self._presses = 0
        await asyncio.sleep(0)
        return await self._inner.handle_async_request(request)


def twenty_rows(tmp_path: Path) -> Path:
    rows = [[student_id(s), teacher_id(t)] for s in range(3, 8) for t in range(1, 5)]
    return write_csv(tmp_path / "in.csv", [["Student ID", "Teacher ID"], *rows])


def test_ctrl_c_while_sending_stops_taking_rows_and_writes_every_row(tmp_path: Path) -> None:
    sandbox = Sandbox()
    summary, notices = run_noting(
        twenty_rows(tmp_path),
        demo_settings(tmp_path, concurrency=2),
        CtrlC(sandbox, CREATE),
        interruptible=True,
    )
    assert (summary.exit_code, summary.interrupted) == (4, True)
    assert notices == [
        "Stopping: no new rows are sent; requests in flight finish (at most 5 s). Press Ctrl-C "
        "again (or send SIGTERM again) to stop at once."
    ]
    rows = read_results(summary.result_path)
    assert [r["row"] for r in rows] == [str(n) for n in range(2, 22)]
    statuses = Counter(r["status"] for r in rows)
    assert set(statuses) == {"created", "not_sent"} and statuses["not_sent"] >= 10
    assert {r["error_code"] for r in rows if r["status"] == "not_sent"} == {"interrupted"}
    assert sandbox.stats(DEMO_LOCATION).by_route[CREATE] == statuses["created"]


def test_ctrl_c_while_asking_keeps_the_answers_and_sends_nothing(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "in.csv",
        [["Student ID", "Teacher"], *[[student_id(n), f"teacher{n}@example.edu"] for n in (3, 4)]],
    )
    sandbox = Sandbox()
    notices: list[str] = []
    settings = demo_settings(tmp_path, second_column="Teacher", second_lookup="email")
    summary = run_import(
        path,
        settings,
        transport=CtrlC(sandbox, "POST /contacts/search"),
        interruptible=True,
        hooks=Hooks(on_notice=notices.append),
    )
    assert summary.exit_code == 4 and summary.counts == {Status.NOT_SENT: 2}
    assert notices == [
        "Stopping: the questions still open to the API are dropped; the answers received are "
        "kept, and the results are written with every row not_sent."
    ]
    assert CREATE not in sandbox.stats(DEMO_LOCATION).by_route
    resumed = run_import(path, settings, transport=sandbox.transport())
    assert resumed.counts == {Status.CREATED: 2}


def test_a_second_ctrl_c_stops_at_once_and_the_same_run_resumes_whole(tmp_path: Path) -> None:
    path = twenty_rows(tmp_path)
    sandbox = Sandbox()
    settings = demo_settings(tmp_path, concurrency=2)
    summary = run_import(
        path, settings, transport=CtrlC(sandbox, CREATE, presses=2), interruptible=True
    )
    assert summary.interrupted and not summary.result_path.exists()  # no result file at all
    resumed = run_import(path, settings, transport=sandbox.transport())
    rows = read_results(resumed.result_path)
    assert [r["row"] for r in rows] == [str(n) for n in range(2, 22)]
    assert Counter(r["status"] for r in rows) == {"created": 20}
    assert sandbox.stats(DEMO_LOCATION).by_route[CREATE] == 20  # nothing sent twice


def test_ctrl_c_during_a_dry_run_stops_its_pass(tmp_path: Path) -> None:
    """A dry run sends nothing, so no sender stops its pass: the pass itself checks for the
    signal and stops within about a thousand rows; the result file still has every row."""
    rows = 5_000
    path = write_csv(
        tmp_path / "in.csv",
        [["Student ID", "Teacher ID"]]
        + [[student_id(n // 125 + 1), teacher_id(n % 125 + 1)] for n in range(rows)],
    )
    judged = 0

    def on_row(_: Status) -> None:
        nonlocal judged
        judged += 1
        if judged == 1_000:
            signal.raise_signal(signal.SIGINT)

    summary = run_import(
        path,
        demo_settings(tmp_path),
        dry_run=True,
        transport=Sandbox().transport(),
        interruptible=True,
        hooks=Hooks(on_row=on_row),
    )
    assert summary.interrupted and summary.exit_code == 4
    # stopped within a few checks (the signal's handler runs as the loop turns, every 256
    # rows), not after every row
    assert judged < 1_000 + 4 * 256
    written = read_results(summary.result_path)
    assert [row["row"] for row in written] == [str(n) for n in range(2, rows + 2)]
    # as any interrupted run's: written from the journal, the rows not judged to the end
    # (and the plainly valid, never journalled by a dry run) not sent, said why
    assert {(row["status"], row["error_code"]) for row in written} == {("not_sent", "interrupted")}
