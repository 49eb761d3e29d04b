"""The durable frame of every run that sends requests row by row (an import, an undo).

A run reads its input three times, each time streaming: a survey (the whole file can be read,
its rows counted and hashed) before any request; the sending itself, every outcome going to the
journal first; and the rendering of the result file from the journal, every input row once and
in input order, however the run ended. A dry run, which sends nothing, writes its result file
in the sending pass (:mod:`importer.run._direct`), so it reads its input twice; once when its
steps can ``glance`` at the header instead of surveying the rows (nothing about them is asked
of the API before the pass: the survey's checks come with the pass, and a failed one leaves no
result file). A pass cut short leaves the result file to the rendering, as in any run.
Re-running the same command resumes: final rows cost no request, rows in doubt are looked up
first. What a row is and what to send for it, the run is told by its :class:`Steps`, plain
callables (:mod:`importer.run._steps`; see :mod:`importer.run._import` for an import's).
"""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, AsyncExitStack, ExitStack
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx

from importer.api import Client, RetryPolicy, connect, limiter_for
from importer.config import Settings
from importer.errors import BudgetExhaustedError, ConfigError, InputError, NothingToDo
from importer.models import (
    IN_DOUBT,
    OUTSIDE_RANGE,
    Outcome,
    RowWindow,
    SourceRow,
    Status,
)
from importer.report import (
    REMEMBERED,
    Hooks,
    ResultWriter,
    RunSummary,
    check_writable,
    unwritten_message,
)
from importer.run._direct import DirectResults
from importer.run._interrupts import Interrupts
from importer.run._journal import (
    Identity,
    Journal,
    file_digest,
    journal_path,
)
from importer.run._locks import hold_run_locks
from importer.run._out import check_out, free_result_path, set_aside
from importer.run._sender import Job, Sender
from importer.run._steps import Book, Entries, Rows, Steps
from importer.state import Ledgers, open_ledgers
from importer.timing import Clock, Sleep

PROGRESS_STEP = 500  # rows read between two reports of a reading phase
WORKERS = 32  # workers in all, about, when a run spans many locations


class DurableRun:
    """Survey, journal, send, render: the frame of one run, given its :class:`Steps`."""

    limit_seq: int | None = None  # the position of the last row --limit takes (the survey's)
    out: Path  # the result file, once the run has chosen it (before prepare())

    def __init__(
        self,
        path: Path,
        settings: Settings,
        *,
        dry_run: bool,
        restart: bool,
        hooks: Hooks,
        only: frozenset[Status] | None = None,
        window: RowWindow | None = None,
    ) -> None:
        if not settings.location_id and not settings.location_column:
            raise ConfigError(
                "No location: set location_id (or location_column) in config.yaml or pass "
                "--location-id."
            )
        self.path, self.settings, self.dry_run, self.restart = path, settings, dry_run, restart
        self.hooks = hooks
        self.only = only  # a result file given back: the statuses to redo
        self.window = window  # --rows / --limit: the rows processed, the rest not sent
        self.steps: Steps  # given by whoever builds the run, before execute()
        self.resumed = 0
        self.unwritten: list[str] = []  # files that could not be written (exit 6)
        self.outside = 0  # rows written as outside --rows / --limit
        self.ephemeral = dry_run
        self.sleep: Sleep = asyncio.sleep
        self.clock: Clock = time.monotonic
        self.ledgers: Ledgers | None = None  # the known relations, while the run executes
        self.locations: frozenset[str] = frozenset()  # where it writes (the survey's)
        self._opened: tuple[Rows, AbstractContextManager[object]] | None = None  # glance()'s

    def make_sender(self, client: Client, journal: Journal, sleep: Sleep) -> Sender:
        """Workers per location: ``concurrency`` for a few locations; for many, fewer each (at
        least 2), about :data:`WORKERS` in all. A location at 10 requests a second needs one or
        two in flight; more workers only cost CPU."""
        concurrency = max(2, min(self.settings.concurrency, WORKERS // (len(self.locations) or 1)))
        return self.steps.sender(
            client,
            retry=RetryPolicy.of(self.settings),
            concurrency=concurrency,
            sleep=sleep,
            clock=self.clock,
            before_queue=lambda jobs: journal.intend_all((job.seq, job.number) for job in jobs),
            resumable=self.resumable,
        )

    @property
    def resumable(self) -> bool:
        """Whether running the same command again resumes this run (not a dry run's, nor one
        on a sandbox made for the run: it keeps nothing)."""
        return not self.ephemeral

    # -- the frame ------------------------------------------------------------------------

    def remembered(self) -> dict[str, object]:
        """The settings that shaped this run, for its summary.json (see ``REMEMBERED``)."""
        values = self.settings.model_dump(include=set(REMEMBERED))
        return {key: values[key] for key in REMEMBERED if values.get(key) not in (None, "")}

    def selected(self, seq: int, row: SourceRow) -> bool:
        """The row is in ``--rows`` / ``--limit`` (every row is, without them)."""
        window = self.window
        if window is None:
            return True
        return window.contains(row.number) and (self.limit_seq is None or seq <= self.limit_seq)

    def _windowed(self, rows: Iterator[SourceRow]) -> Iterator[SourceRow]:
        """The survey's rows inside ``--rows`` and ``--limit`` (noting where the limit ends)."""
        window = self.window
        assert window is not None
        taken = 0
        first = last = None  # the file's first and last row numbers, to say what there is
        for seq, row in enumerate(rows):
            first, last = first or row.number, row.number
            full = window.limit is not None and taken >= window.limit
            if full or not window.contains(row.number):
                continue
            taken += 1
            self.limit_seq = seq if window.limit is not None else None
            yield row
        if not taken and first is not None:
            raise InputError(
                f"{self.path}: no row is in {window.describe()}: the file's rows are numbered "
                f"{first} to {last}. Give rows as your spreadsheet numbers them."
            )

    def counted(self, rows: Iterator[SourceRow], phase: str | None = None) -> Iterator[SourceRow]:
        """``rows``, reported as a phase of their own (``hooks.on_phase``, unless the caller
        began it before opening the file: a large workbook takes seconds to open), in steps."""
        if phase is not None:
            self.hooks.on_phase(phase, None)
        done = 0
        for done, row in enumerate(rows, 1):
            if done % PROGRESS_STEP == 0:
                self.hooks.on_progress(PROGRESS_STEP)
            yield row
        self.hooks.on_progress(done % PROGRESS_STEP)

    def survey(self, stop: threading.Event | None = None) -> tuple[int, int, str]:
        """Read the whole input once (InputError now, not half-way): rows, size, sha256.
        ``stop``: set (by Ctrl-C) to end the reading at the next row."""
        self.hooks.on_phase("reading", None)  # before opening: a workbook takes seconds
        (_, header, rows), stack = self.steps.open_rows()
        with stack:
            rows = self.counted(rows)
            if stop is not None:
                rows = _stoppable(rows, stop)
            found = self.steps.survey(header, rows if self.window is None else self._windowed(rows))
        count, self.locations = found.rows, found.locations
        if count == 0:
            self._no_rows()
        return count, self.path.stat().st_size, file_digest(self.path)

    def _no_rows(self) -> None:
        if self.only is not None:
            statuses = ", ".join(sorted(self.only))
            raise NothingToDo(f"{self.path}: no row has the status {statuses}: nothing to do.")
        raise InputError(
            f"{self.path}: there are no rows to process under the header. "
            "Check that this is the right file (or sheet, or --only statuses)."
        )

    @property
    def one_pass(self) -> bool:
        """A dry run of the whole file that its steps can judge in one reading (``glance``)."""
        return self.dry_run and self.window is None and self.steps.glance is not None

    def glance(self, reading: ExitStack) -> tuple[int, str]:
        """A one-pass run's look at its input before the pass: the header checked and where
        the run writes (its rows stay unread; the input stays open for the pass, in
        ``reading``: a large workbook takes seconds to open); the input's size and sha256."""
        assert self.steps.glance is not None
        self.hooks.on_phase("checking", None)  # before opening: a workbook takes seconds
        reading.callback(self._release)
        self._opened = self.steps.open_rows()
        (_, header, _), _ = self._opened
        self.locations = self.steps.glance(header)
        return self.path.stat().st_size, file_digest(self.path)

    def _release(self) -> None:
        """Close the input :meth:`glance` opened, if the run stopped before its pass."""
        if self._opened is not None:
            _, stack = self._opened
            self._opened = None
            with stack:
                pass

    def _journal(self, out: Path, identity: Identity, stack: ExitStack) -> Journal:
        if self.ephemeral:  # a throw-away journal: one code path, nothing left behind
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="relimport-"))
            return stack.enter_context(Journal.open(Path(folder) / "dry-run.journal", identity))
        journal = journal_path(out)
        if self.restart:
            set_aside(out, journal, self.hooks.on_notice)
        return stack.enter_context(Journal.open(journal, identity))

    async def execute(
        self,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        clock: Clock = time.monotonic,
        interruptible: bool = False,
    ) -> RunSummary:
        """The whole run. ``interruptible``: handle SIGINT/SIGTERM (see :mod:`interrupts`).
        ``sleep`` and ``clock``: every wait and every reading of the time (the rate limit,
        retries, the unreachable API's seconds), one virtual clock for tests."""
        self.sleep, self.clock = sleep, clock
        with open_ledgers(self.settings, transport, read_only=self.dry_run) as self.ledgers:
            if not interruptible:
                return await self._execute(transport, sleep, None)
            with Interrupts(self.hooks.on_notice) as interrupts:
                return await self._execute(transport, sleep, interrupts)

    async def _execute(
        self,
        transport: httpx.AsyncBaseTransport | None,
        sleep: Sleep,
        interrupts: Interrupts | None,
    ) -> RunSummary:
        started = time.monotonic()
        started_at = datetime.now(UTC).isoformat(timespec="seconds")
        with ExitStack() as reading:  # the input, when it is read once and kept open
            if self.one_pass:
                size, digest = await asyncio.to_thread(self.glance, reading)
            else:
                stop = interrupts.stop_reading if interrupts is not None else None
                total, size, digest = await asyncio.to_thread(self.survey, stop)
                self.hooks.on_total(total)
            return await self._surveyed(
                size, digest, started, started_at, transport, sleep, interrupts
            )

    async def _surveyed(
        self,
        size: int,
        digest: str,
        started: float,
        started_at: str,
        transport: httpx.AsyncBaseTransport | None,
        sleep: Sleep,
        interrupts: Interrupts | None,
    ) -> RunSummary:
        """The run once its input is known: where its results go, its locks, the rest."""
        identity = replace(self.steps.identity, size=size, sha256=digest)
        # a sandbox made for this run vanishes with it: nothing to resume, ever
        self.ephemeral = self.dry_run or (self.settings.is_sandbox and transport is None)
        base = self.steps.result_path
        if self.settings.out is not None:
            out = self.settings.out
        elif self.dry_run:  # one dry-run file per input, replaced each time: it keeps nothing
            out = base
        else:
            out = free_result_path(base, identity, self.ephemeral)
        self.out = out
        check_writable(out)  # a folder, or a place we cannot write: say so first
        check_out(
            out,
            self.path,
            ephemeral=self.ephemeral,
            replaced=self.dry_run and self.settings.out is None,  # the input's own dry run
            restart=self.restart,
            notice=None if self.dry_run else self.hooks.on_notice,
        )
        async with AsyncExitStack() as locks:
            if not self.ephemeral:  # one run per result file and per location, ever
                await hold_run_locks(
                    locks,
                    result_path=out,
                    state_dir=self.settings.state_folder,
                    target=self.settings.target,
                    locations=self.locations - {""},
                    wait=self.settings.wait_lock,
                    sleep=sleep,
                    notice=self.hooks.on_notice,
                )
            return await self._locked(
                out, identity, started, started_at, size, digest, transport, sleep, interrupts
            )

    async def _locked(
        self,
        out: Path,
        identity: Identity,
        started: float,
        started_at: str,
        size: int,
        digest: str,
        transport: httpx.AsyncBaseTransport | None,
        sleep: Sleep,
        interrupts: Interrupts | None,
    ) -> RunSummary:
        """The run once its locks are held: prepare, journal, send, render."""
        limiter = limiter_for(self.settings, sleep=sleep, clock=self.clock)
        client = connect(self.settings, limiter, transport=transport)
        with ExitStack() as stack:
            try:
                journal = None
                if journal_path(out).exists() and not self.restart and not self.ephemeral:
                    journal = self._journal(out, identity, stack)
                spent: BudgetExhaustedError | None = None
                written: dict[Status, int] | None = None  # a dry run's, written as it went
                try:
                    with interrupts.asking() if interrupts else ExitStack():
                        await self.steps.prepare(client, journal)
                except BudgetExhaustedError as error:  # the look-ups took the day's last
                    spent = error
                if journal is None:  # created once nothing can stop the run from starting
                    journal = self._journal(out, identity, stack)
                self.steps.started(journal)
                sender = self.make_sender(client, journal, sleep)
                if spent is not None:  # every row not sent (exit 5): resumed another day
                    sender.stopped_locations[spent.location_id] = str(spent)
                elif interrupts is not None and interrupts.asked:  # the answers are kept
                    sender.interrupt()
                else:
                    with interrupts.sending(sender) if interrupts else ExitStack():
                        written = await self._send(journal, sender)
            finally:
                await client.aclose()
            abandoned = interrupts is not None and interrupts.abandoned
            if abandoned:
                counts: dict[Status, int] = {}
            else:
                counts = written if written is not None else self._render(out, journal, sender)
            # the summary while the journal is open: the steps may read it (--mirror)
            stats = limiter.stats.values()
            summary = RunSummary(
                title=str(self.path),
                input_path=self.path,
                result_path=out,
                counts=counts,
                requests=sum(s.requests for s in stats),
                rate_limited=sum(s.rate_limited for s in stats),
                elapsed=time.monotonic() - started,
                dry_run=self.dry_run,
                stopped=str(sender.fatal) if sender.fatal is not None else None,
                interrupted=sender.interrupted,
                not_sent_reasons=tuple(sender.stopped_locations.values()),
                resumed=self.resumed,
                rendered=not abandoned,
                ok=self.steps.ok,
                run_id=uuid.uuid4().hex,
                started_at=started_at,
                input_size=size,
                input_sha256=digest,
                budgets={
                    location: {"requests": stat.requests, "daily_remaining": stat.daily_remaining}
                    for location, stat in limiter.stats.items()
                },
                kind=self.steps.kind,
                workbook=self.settings.results_format != "csv",
                resumable=self.resumable,
                unwritten=tuple(self.unwritten),
                outside=self.outside,
                window=self.window.describe() if self.window else "",
                settings=self.remembered(),
            )
            return self.steps.sum_up(summary, limiter)

    async def _send(self, journal: Journal, sender: Sender) -> dict[Status, int] | None:
        """Send the jobs of every row. A dry run writes its result file in the same pass and
        returns its counts (None: the file is to be written from the journal)."""
        (notices, header, rows), stack = self._opened or self.steps.open_rows()
        self._opened = None
        with stack:
            for line in notices:  # the reader names the file: by the path given, once
                name = self.path.name
                line = str(self.path) + line[len(name) :] if line.startswith(name) else line
                self.hooks.on_notice(
                    line if line.startswith(str(self.path)) else f"{self.path}: {line}"
                )

            async def record(job: Job, outcome: Outcome) -> None:
                outcome = replace(
                    outcome,
                    relation_id=outcome.relation_id or job.relation_id,  # a delete's, kept
                    first_id=job.pair.first_id,
                    second_id=job.pair.second_id,
                    # a warning stays, whatever the API said
                    error="; ".join(filter(None, [outcome.error, job.note])),
                )
                self.steps.confirmed(job, outcome)  # what the API confirmed, before the journal
                journal.record(job.seq, job.number, outcome, durable=outcome.attempts > 0)
                self.hooks.on_row(outcome.status)

            if not self.dry_run:
                book = self._book(journal)
                await sender.run(self.steps.jobs(rows, book), record)
                self.resumed += book.resumed
                return None
            direct = DirectResults(
                ResultWriter(self.out, header),
                selected=self.selected,
                fill=self.steps.fill,
                outside=self.outside_outcome(),
            )
            try:
                book = self._book(journal, direct)
                fed = direct.feed(rows, lambda: sender.interrupted)
                await sender.run(self.steps.jobs(fed, book), record)
                self.resumed += book.resumed
                if self.one_pass and direct.whole and not direct.rows:
                    self._no_rows()  # the survey's check, with the pass
            except BaseException:  # a check of the pass failed (InputError), or worse
                direct.close(False)
                raise
            whole = direct.close(
                sender.fatal is None and not sender.interrupted and not sender.stopped_locations
            )
            if not whole:
                return None
            self.outside += direct.outside
            return dict(direct.writer.counts)

    def _book(self, journal: Journal, direct: DirectResults | None = None) -> Book:
        return Book(
            journal,
            selected=self.selected,
            windowed=self.window is not None,
            on_row=self.hooks.on_row,
            direct=direct,
        )

    def outside_outcome(self) -> Outcome:
        """The outcome of a row outside ``--rows`` / ``--limit``."""
        return Outcome(
            Status.NOT_SENT,
            error_code=OUTSIDE_RANGE,
            error=f"outside {self.window.describe() if self.window else ''}: not sent; run "
            "again without it to send this row",
        )

    def _render(self, out: Path, journal: Journal, sender: Sender) -> dict[Status, int]:
        """Write the result file from the journal: every input row once, in input order."""
        stopped = sender.stop_outcome()
        if stopped is not None:
            unsent = stopped
        elif self.dry_run and not sender.stopped_locations:  # plainly valid: not journalled
            unsent = Outcome(Status.VALID)
        else:
            reason = next(iter(sender.stopped_locations.values()), "not sent")
            unsent = Outcome(Status.NOT_SENT, error_code="daily_budget", error=reason)
        self.hooks.on_phase("writing results", None)  # the input read once more, the journal
        (_, header, rows), stack = self.steps.open_rows()
        writer = ResultWriter(out, header)
        outside = self.outside_outcome()
        try:
            with stack, writer:
                known = Entries(journal.entries())
                in_doubt = replace(
                    unsent,
                    in_doubt=True,
                    error=f"{unsent.error} (a request was under way: {IN_DOUBT})",
                )
                for seq, row in enumerate(self.counted(rows)):
                    entry = known.at(seq)
                    if entry is not None and entry.outcome is not None:
                        writer.add(seq, row, entry.outcome)
                    elif not self.selected(seq, row):  # --rows, --limit (an earlier run's stays)
                        self.outside += 1
                        writer.add(seq, row, outside)
                    else:  # cut off in flight (intent, no outcome), or never reached
                        outcome = in_doubt if entry is not None and entry.intent else unsent
                        writer.add(seq, row, self.steps.fill(row, outcome))
        except OSError as error:  # open in Excel, read-only, disk full: the journal has it all
            self.unwritten.append(str(out))
            (self.hooks.on_error or self.hooks.on_notice)(
                unwritten_message(out, error, dry_run=self.dry_run)
            )
        return dict(writer.counts)


class Stopped(Exception):
    """The reading of the input was stopped (Ctrl-C before anything was sent)."""


def _stoppable(rows: Iterator[SourceRow], stop: threading.Event) -> Iterator[SourceRow]:
    """The rows, until ``stop`` is set (checked every few hundred rows: cheap)."""
    for index, row in enumerate(rows):
        if index % 512 == 0 and stop.is_set():
            raise Stopped
        yield row
