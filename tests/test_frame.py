"""The durable frame on its own: a run made of plain callables (``Steps``), no import."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from importer.models import Outcome, SourceRow, Status
from importer.report import Hooks
from importer.run import Book, DurableRun, Identity, Job, Steps, Survey
from importer.sandbox import Sandbox
from tests.conftest import demo_settings, read_results

HEADER = ("id",)
ROWS = [SourceRow(number, (f"value {number}",)) for number in range(2, 12)]


class Recorder:
    """Steps that judge every third row invalid and leave the rest plainly valid (a dry run
    writes those as ``valid``); ``open_rows`` counts the readings of the input."""

    def __init__(self, *, misplaced: bool = False) -> None:
        self.readings = 0
        self.misplaced = misplaced  # record an outcome for another row than the one fed

    def open_rows(
        self,
    ) -> tuple[
        tuple[tuple[str, ...], tuple[str, ...], Iterator[SourceRow]],
        AbstractContextManager[object],
    ]:
        self.readings += 1
        return ((), HEADER, iter(ROWS)), nullcontext()

    def survey(self, header: tuple[str, ...], rows: Iterator[SourceRow]) -> Survey:
        return Survey(sum(1 for _ in rows), frozenset({"loc"}))

    def glance(self, header: tuple[str, ...]) -> frozenset[str]:
        return frozenset({"loc"})

    async def jobs(self, rows: Iterator[SourceRow], book: Book) -> AsyncIterator[Job]:
        for seq, _ in enumerate(rows):
            if seq % 3 == 0:
                target = seq + 1 if self.misplaced and seq == 3 else seq
                invalid = Outcome(Status.INVALID, error_code="bad", error=f"row {seq}")
                book.done(target, ROWS[target], invalid)
        return
        yield  # an async generator that sends nothing


def frame(tmp_path: Path, recorder: Recorder, *, dry_run: bool, glance: bool = False) -> DurableRun:
    settings = demo_settings(tmp_path)
    path = tmp_path / "input.csv"
    run = DurableRun(path, settings, dry_run=dry_run, restart=False, hooks=Hooks())
    (tmp_path / "input.csv").write_text("id\n", encoding="utf-8")
    run.steps = Steps(
        kind="import",
        identity=Identity("import", "input", 0, "", "", "", "", "", "", settings.target),
        result_path=tmp_path / "results.csv",
        open_rows=recorder.open_rows,
        survey=recorder.survey,
        glance=recorder.glance if glance else None,
        jobs=recorder.jobs,
    )
    return run


def test_a_dry_run_reads_its_input_twice_and_writes_every_row_once(tmp_path: Path) -> None:
    recorder = Recorder()
    summary = asyncio.run(frame(tmp_path, recorder, dry_run=True).execute())
    # the survey, then one pass that judges the rows and writes the result file
    assert recorder.readings == 2
    rows = read_results(summary.result_path)
    assert [row["row"] for row in rows] == [str(row.number) for row in ROWS]
    assert [row["status"] for row in rows] == [
        "invalid" if seq % 3 == 0 else "valid" for seq in range(len(ROWS))
    ]
    assert summary.counts == {Status.INVALID: 4, Status.VALID: 6}


def test_a_dry_run_that_glances_at_its_header_reads_its_input_once(tmp_path: Path) -> None:
    recorder = Recorder()
    summary = asyncio.run(frame(tmp_path, recorder, dry_run=True, glance=True).execute())
    assert recorder.readings == 1  # the header seen, then the one pass on the same opening
    rows = read_results(summary.result_path)
    assert [row["row"] for row in rows] == [str(row.number) for row in ROWS]
    assert summary.counts == {Status.INVALID: 4, Status.VALID: 6}


def test_a_real_run_surveys_its_input_even_when_its_steps_could_glance(tmp_path: Path) -> None:
    """Sending needs the whole file checked first: a real run never skips the survey."""
    recorder = Recorder()
    run = frame(tmp_path, recorder, dry_run=False, glance=True)
    asyncio.run(run.execute(transport=Sandbox().transport()))
    assert recorder.readings == 3  # survey, send, render


def test_steps_that_record_another_row_fall_back_to_the_journal(tmp_path: Path) -> None:
    """An outcome for a row other than the one fed: the direct file is given up, and the
    result file is written from the journal (one reading more), still every row once."""
    recorder = Recorder(misplaced=True)
    summary = asyncio.run(frame(tmp_path, recorder, dry_run=True).execute())
    assert recorder.readings == 3
    rows = read_results(summary.result_path)
    assert [row["row"] for row in rows] == [str(row.number) for row in ROWS]
    statuses = [row["status"] for row in rows]
    assert statuses[4] == "invalid" and statuses[3] == "valid"  # as the journal has them
    assert not list(tmp_path.glob(".*.partial"))


def test_a_real_run_writes_its_results_from_the_journal(tmp_path: Path) -> None:
    """Rows the steps gave no job nor outcome were never reached: not sent."""
    recorder = Recorder()
    run = frame(tmp_path, recorder, dry_run=False)
    summary = asyncio.run(run.execute(transport=Sandbox().transport()))
    assert recorder.readings == 3  # survey, send, render
    rows = read_results(summary.result_path)
    assert [row["status"] for row in rows] == [
        "invalid" if seq % 3 == 0 else "not_sent" for seq in range(len(ROWS))
    ]
