"""``relimport undo RESULTS``: delete exactly the relations an import created, nothing else.

The input is the import's result file. A row is undone only when the import says
``created`` and gives the relation's id; every other row (already there before, invalid,
failed...) is left alone and says so. The undo is a durable run like the import: journalled,
resumable, rate-limited, with its own result file.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager, ExitStack
from dataclasses import replace
from pathlib import Path

import httpx

from importer.api import Client, check_tokens
from importer.config import Settings
from importer.errors import ConfigError, RejectedError
from importer.models import Outcome, Pair, SourceRow, Status
from importer.read import open_table
from importer.report import Hooks, RunSummary, finish_run, result_columns, result_name
from importer.run._frame import DurableRun
from importer.run._journal import Identity, Journal
from importer.run._sender import UNVERIFIED, Interrupted, Job, Sender, Tally
from importer.run._steps import Book, Rows, Steps, Survey
from importer.timing import Clock, Sleep


def run_undo(
    path: Path,
    settings: Settings,
    *,
    dry_run: bool = False,
    restart: bool = False,
    include_unverified: bool = False,
    transport: httpx.AsyncBaseTransport | None = None,
    sleep: Sleep = asyncio.sleep,
    clock: Clock = time.monotonic,
    interruptible: bool = False,
    hooks: Hooks | None = None,
    resume_command: str | None = None,
    lang: str = "en",
) -> RunSummary:
    """Delete the relations that the import whose result file is ``path`` created.

    Rows the import could not verify as its own (``unverified``) are left alone unless
    ``include_unverified``.
    """
    run = Undo(
        path,
        settings,
        dry_run=dry_run,
        restart=restart,
        hooks=hooks or Hooks(),
        include_unverified=include_unverified,
    ).run
    summary = asyncio.run(
        run.execute(transport=transport, sleep=sleep, clock=clock, interruptible=interruptible)
    )
    return finish_run(summary, run.hooks, resume_command, lang)


class Deleter(Sender):
    """Deletes relations by id. A 404 means gone already (or deleted by our lost request)."""

    done_word = "deleted"

    async def _act(self, job: Job, tally: Tally) -> Outcome:
        async def delete() -> None:
            if self.interrupted and tally.requests:
                raise Interrupted
            await tally.count(self._client.delete_relation(job.location_id, job.relation_id))

        try:
            await self._retries(delete)
        except RejectedError as error:
            if not _not_found(error):
                raise
            if tally.in_doubt:  # our own earlier request deleted it; its answer was lost
                return Outcome(
                    Status.DELETED,
                    relation_id=job.relation_id,
                    error="deleted: the answer was lost, the relation is gone",
                )
            return Outcome(
                Status.GONE,
                relation_id=job.relation_id,
                http_status=404,
                error="the relation was already gone",
            )
        return Outcome(Status.DELETED, relation_id=job.relation_id, http_status=200)


def _not_found(error: RejectedError) -> bool:
    """The API's way of saying the relation does not exist (a 404, or a 4xx that says so)."""
    return error.status == 404 or "not found" in error.message.lower()


class Undo:
    """One undo: its durable frame (``run``) and its stages: read, survey, prepare, jobs,
    confirmed."""

    def __init__(
        self,
        path: Path,
        settings: Settings,
        *,
        dry_run: bool,
        restart: bool,
        hooks: Hooks,
        include_unverified: bool = False,
    ) -> None:
        self.run = DurableRun(path, settings, dry_run=dry_run, restart=restart, hooks=hooks)
        self.path, self.settings, self.dry_run = path, settings, dry_run
        self.include_unverified = include_unverified
        self._location_at: int | None = None  # a multi-location import's location column
        self._locations: set[str] = set()
        self._at: dict[str, int] = {}  # the import's result columns in the input
        s = settings
        self.run.steps = Steps(
            kind="undo",
            identity=Identity(
                kind="undo",
                path=str(path.resolve()),
                size=0,  # the frame fills in the file's size and digest
                sha256="",
                sheet="",
                columns="",
                association="",
                location_id=s.location_id or "",
                selection="",
                target=s.target,
            ),
            result_path=result_name(path, "undo-dry-run" if dry_run else "undo"),
            ok=frozenset({Status.DELETED, Status.GONE, Status.SKIPPED, Status.WOULD_DELETE}),
            open_rows=self.open_rows,
            survey=self.survey,
            prepare=self.prepare,
            jobs=self.jobs,
            sender=Deleter,
            confirmed=self.confirmed,
            sum_up=lambda summary, limiter: replace(summary, title=self.title()),
        )

    def open_rows(self) -> tuple[Rows, AbstractContextManager[object]]:
        """The import's rows, numbered as in its input; the header is the input's columns
        only, so that the undo's result file has one status column, the undo's own."""
        stack = ExitStack()
        table = stack.enter_context(open_table(self.path, encoding=self.settings.encoding))
        at = self._at = result_columns(table.header, self.path, "undo")

        def rows() -> Iterator[SourceRow]:  # numbered as in the original input
            for row in table.rows:
                number = row.cells[at["row"]]
                yield SourceRow(int(number) if number.isdigit() else row.number, row.cells)

        return (table.notices, table.header[: at["row"]], rows()), stack

    def survey(self, header: tuple[str, ...], rows: Iterator[SourceRow]) -> Survey:
        """Check the header, count the rows, note the locations of the relations to delete."""
        column = self.settings.location_column
        self._location_at = header.index(column) if column and column in header else None
        if self._location_at is None and not self.settings.location_id:
            raise ConfigError(
                f"{self.path}: no location: set location_id, or location_column to the "
                "column of the import's input that holds each row's location."
            )
        count = 0
        for row in rows:
            count += 1
            self._locations.add(self._location(row))
        return Survey(count, frozenset(self._locations))

    def confirmed(self, job: Job, outcome: Outcome) -> None:
        """A relation deleted, or gone already: the ledger forgets it."""
        ledgers = self.run.ledgers
        ledger = ledgers.get(job.location_id) if ledgers is not None else None
        if ledger is not None and outcome.status in (Status.DELETED, Status.GONE):
            ledger.forget_relation(job.relation_id)

    def _location(self, row: SourceRow) -> str:
        at = self._location_at
        return row.cells[at] if at is not None else self.settings.location_id or ""

    async def prepare(self, client: Client, journal: Journal | None) -> None:
        check_tokens(self.settings, self._locations - {""}, str(self.path))
        if self.run.ledgers is not None:  # a ledger that cannot be opened stops the undo now
            for location in sorted(self._locations):
                self.run.ledgers.get(location)

    def title(self) -> str:
        return f"{'Dry run of the undo' if self.dry_run else 'Undo'} of {self.path}"

    async def jobs(self, rows: Iterator[SourceRow], book: Book) -> AsyncIterator[Job]:
        at = self._at
        for seq, row in enumerate(rows):
            if seq % 256 == 0:
                await asyncio.sleep(0)  # let the workers run while rows are read
            entry = book.entry(seq)
            status, relation_id = row.cells[at["status"]], row.cells[at["relation_id"]]
            if book.settled(entry):
                continue
            if status != Status.CREATED.value or not relation_id:
                reason = f"the import did not create a relation here ({status}): left alone"
                book.done(seq, row, Outcome(Status.SKIPPED, error=reason))
            elif row.cells[at["error_code"]] == UNVERIFIED and not self.include_unverified:
                reason = (
                    "left alone: found after a lost answer, it may have existed before the "
                    "import (undo --include-unverified deletes such relations too)"
                )
                skipped = Outcome(Status.SKIPPED, relation_id, UNVERIFIED, reason)
                book.done(seq, row, skipped)
            elif self.dry_run:
                would = Outcome(Status.WOULD_DELETE, relation_id=relation_id)
                book.done(seq, row, would)
            else:
                yield Job(
                    seq,
                    row.number,
                    self._location(row),
                    "",
                    Pair("", ""),
                    in_doubt=entry is not None and entry.intent,
                    relation_id=relation_id,
                )
