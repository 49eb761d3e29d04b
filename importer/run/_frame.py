"""The durable frame of every run that sends requests row by row (an import, an undo).

A run reads its input three times, each time streaming: a survey (the whole file can be read,
its rows counted and hashed) before any request; the sending itself, every outcome going to the
journal first; and the rendering of the result file from the journal, every input row once and
in input order, however the run ended. Re-running the same command resumes: final rows cost no
request, rows in doubt are looked up first. Subclasses say what a row is and what to send.
"""

from __future__ import annotations

import asyncio
import json
import tempfile
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import AbstractContextManager, AsyncExitStack, ExitStack
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import httpx

from importer.api import Client, RateLimiter, RetryPolicy, connect, limiter_for
from importer.config import Settings
from importer.errors import BudgetExhaustedError, ConfigError, InputError, NothingToDo
from importer.models import (
    IMPORT_OK,
    IN_DOUBT,
    OUTSIDE_RANGE,
    Association,
    Outcome,
    RowWindow,
    SourceRow,
    Status,
)
from importer.report import (
    REMEMBERED,
    Hooks,
    Plan,
    ResultWriter,
    RunSummary,
    check_writable,
    plan_path,
    summary_path,
    unwritten_message,
)
from importer.run._interrupts import Interrupts
from importer.run._journal import (
    Entry,
    Identity,
    Journal,
    file_digest,
    journal_path,
    outcomes,
    peek,
)
from importer.run._locks import hold_run_locks
from importer.run._sender import Job, Sender
from importer.state import Ledgers, open_ledgers
from importer.timing import Sleep

PROGRESS_STEP = 500  # rows read between two reports of a reading phase
Rows = tuple[tuple[str, ...], tuple[str, ...], Iterator[SourceRow]]  # notices, header, rows


class DurableRun:
    """Survey, journal, send, render. Subclasses fill in the parts marked as theirs."""

    kind = "run"
    only: frozenset[Status] | None = None  # a result file given back: the statuses to redo
    window: RowWindow | None = None  # --rows / --limit: the rows processed, the rest not sent
    limit_seq: int | None = None  # the position of the last row --limit takes (the survey's)
    association: Association | None = None  # what the run creates under, once known
    out: Path  # the result file, once the run has chosen it (before prepare())
    ok: frozenset[Status] = IMPORT_OK

    def __init__(
        self, path: Path, settings: Settings, *, dry_run: bool, restart: bool, hooks: Hooks
    ) -> None:
        if not settings.location_id and not settings.location_column:
            raise ConfigError(
                "No location: set location_id (or location_column) in config.yaml or pass "
                "--location-id."
            )
        self.path, self.settings, self.dry_run, self.restart = path, settings, dry_run, restart
        self.hooks = hooks
        self.resumed = 0
        self.warnings = 0
        self.unwritten: list[str] = []  # files that could not be written (exit 6)
        self.outside = 0  # rows written as outside --rows / --limit
        self.ephemeral = dry_run
        self.sleep: Sleep = asyncio.sleep
        self.ledgers: Ledgers | None = None  # the known relations, while the run executes

    # -- the parts that are the subclass's -------------------------------------------------

    def open_rows(self) -> tuple[Rows, AbstractContextManager[object]]:
        raise NotImplementedError

    def check_header(self, header: tuple[str, ...]) -> None:
        """Raise InputError when the header cannot serve (a missing column...)."""

    def tally(self, rows: Iterator[SourceRow]) -> int:
        """Count the rows of the survey (a subclass may note more of them on the way)."""
        return sum(1 for _ in rows)

    def identity(self, size: int, digest: str) -> Identity:
        raise NotImplementedError

    def default_result_path(self) -> Path:
        raise NotImplementedError

    def title(self) -> str:
        raise NotImplementedError

    async def prepare(self, client: Client, journal: Journal | None) -> None:
        """Ask the API what the run needs before it starts (``journal`` is None when new)."""

    def started(self, journal: Journal) -> None:
        """The journal is open: keep in it what a resume must not ask the API again."""

    sender_class: type[Sender] = Sender

    def concurrency(self) -> int:
        """Workers per location (:mod:`importer.run`)."""
        return self.settings.concurrency

    def make_sender(self, client: Client, journal: Journal, sleep: Sleep) -> Sender:
        return self.sender_class(
            client,
            retry=RetryPolicy(**self.settings.retry.model_dump()),
            concurrency=self.concurrency(),
            sleep=sleep,
            before_queue=lambda jobs: journal.intend_all((job.seq, job.number) for job in jobs),
            resumable=self.resumable,
        )

    @property
    def resumable(self) -> bool:
        """Whether running the same command again resumes this run (not a dry run's, nor one
        on a sandbox made for the run: it keeps nothing)."""
        return not self.ephemeral

    def fill(self, row: SourceRow, outcome: Outcome) -> Outcome:
        """The outcome of a row the journal does not hold, completed from the row."""
        return outcome

    def plan(self, counts: Mapping[Status, int], limiter: RateLimiter) -> Plan | None:
        """What a real run would cost (a dry run's forecast), once the results are known."""
        return None

    def purposes(self) -> dict[str, int]:
        """Requests made before sending, by purpose (the rest are the run's own writes)."""
        return {}

    def locations(self) -> set[str]:
        """The locations the run writes in (known after the survey): each is locked."""
        return {self.settings.location_id} if self.settings.location_id else set()

    def confirmed(self, job: Job, outcome: Outcome) -> None:
        """An outcome of a request, before the journal has it (the ledger's to note)."""

    def settled(self, entry: Entry | None) -> bool:
        """True when the journal already has this row's final outcome (a resume skips it)."""
        if entry is None or entry.outcome is None or not entry.final:
            return False
        self.resumed += 1
        self.hooks.on_row(entry.outcome.status)
        return True

    def jobs(
        self, header: tuple[str, ...], rows: Iterator[SourceRow], journal: Journal
    ) -> AsyncIterator[Job]:
        raise NotImplementedError

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
        (_, header, rows), stack = self.open_rows()
        with stack:
            self.check_header(header)
            rows = self.counted(rows)
            if stop is not None:
                rows = _stoppable(rows, stop)
            count = self.tally(rows if self.window is None else self._windowed(rows))
        if count == 0 and self.only is not None:
            statuses = ", ".join(sorted(self.only))
            raise NothingToDo(f"{self.path}: no row has the status {statuses}: nothing to do.")
        if count == 0:
            raise InputError(
                f"{self.path}: there are no rows to process under the header. "
                "Check that this is the right file (or sheet, or --only statuses)."
            )
        return count, self.path.stat().st_size, file_digest(self.path)

    def done(self, seq: int, row: SourceRow, journal: Journal, outcome: Outcome) -> None:
        """Record an outcome found without a request (cheap to find again: batched)."""
        journal.record(seq, row.number, outcome, durable=False)
        self.hooks.on_row(outcome.status)

    def _default_out(self, identity: Identity) -> Path:
        """``results/<stem>-<kind>.csv``, numbered: the first that is free or is this run's
        (resumed). The same input changed since is refused by the journal (or --restart)."""
        base = self.default_result_path()
        if self.dry_run:  # one dry-run file per input, replaced each time: it keeps nothing
            return base
        for number in range(1, 10_000):
            out = base if number == 1 else base.with_name(f"{base.stem}-{number}{base.suffix}")
            journal = journal_path(out)
            if self.ephemeral:
                if not out.exists():
                    return out
                continue
            if not journal.exists():
                if not out.exists():
                    return out
                continue
            meta = peek(journal)
            if meta is not None and meta.get("path") == identity.path:
                return out  # this input's run: resume it, or say what changed
        raise ConfigError(f"{base.parent}: too many earlier results; choose --out.")

    def _check_out(self, out: Path) -> None:
        """Never write over the input, nor over a file that no journal says is this run's."""
        if out.exists() and out.resolve() == self.path.resolve():
            raise ConfigError(
                f"{out}: --out is the input file itself. Give the results another name."
            )
        resumable = journal_path(out).exists() and not self.ephemeral
        replaced = self.dry_run and self.settings.out is None  # the input's own dry-run file
        if out.exists() and not resumable and _dry_run_wrote(out):  # validate, then run
            if not self.dry_run:
                self.hooks.on_notice(f"{out}: the results of a dry run are replaced by this run's.")
            replaced = True
        if out.exists() and not resumable and not self.restart and not replaced:
            raise ConfigError(
                f"{out}: a file is already there and is never overwritten. "
                "Choose another --out or move the old file away."
            )

    def _journal(self, out: Path, identity: Identity, stack: ExitStack) -> Journal:
        if self.ephemeral:  # a throw-away journal: one code path, nothing left behind
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="relimport-"))
            return stack.enter_context(Journal.open(Path(folder) / "dry-run.journal", identity))
        journal = journal_path(out)
        if self.restart:
            self._set_aside(out, journal)
        return stack.enter_context(Journal.open(journal, identity))

    def _set_aside(self, out: Path, journal: Path) -> None:
        """--restart: keep the earlier run's results and journal under new names.

        A run that was killed before it wrote its result file, or after, has outcomes only its
        journal holds: they are written out first (row numbers and results, no input columns,
        which changed), so that ``undo`` can still remove what that run created.
        """
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        stale = journal.exists()  # the journal is the authority: it may know more
        if out.exists():
            earlier = "-as-written" if stale else ""
            kept = out.with_name(f"{out.stem}.replaced-{stamp}{earlier}{out.suffix}")
            out.rename(kept)
            self.hooks.on_notice(f"--restart: the earlier {out} is kept as {kept}")
        if stale:
            rendered = out.with_name(f"{out.stem}.replaced-{stamp}{out.suffix}")
            with ResultWriter(rendered, ()) as writer:
                for seq, (number, outcome, intent) in enumerate(outcomes(journal)):
                    doubt = Outcome(
                        Status.NOT_SENT,
                        error_code="interrupted",
                        in_doubt=intent,
                        error=f"the earlier run stopped here ({IN_DOUBT})"
                        if intent
                        else "the earlier run stopped before this row",
                    )
                    writer.add(seq, SourceRow(number, ()), outcome or doubt)
            self.hooks.on_notice(f"--restart: what the earlier run did is in {rendered}")
        if journal.exists():
            kept = journal.with_name(f"{journal.name}.replaced-{stamp}")
            journal.rename(kept)
            self.hooks.on_notice(f"--restart: the earlier {journal} is kept as {kept}")
        for beside in (summary_path(out), plan_path(out), out.with_suffix(".xlsx")):
            if beside.exists():  # the earlier run's: never to be read as this run's
                kept = beside.with_name(f"{beside.stem}.replaced-{stamp}{beside.suffix}")
                beside.rename(kept)

    async def execute(
        self,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        interruptible: bool = False,
    ) -> RunSummary:
        """The whole run. ``interruptible``: handle SIGINT/SIGTERM (see :mod:`interrupts`)."""
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
        self.sleep = sleep
        stop = interrupts.stop_reading if interrupts is not None else None
        total, size, digest = await asyncio.to_thread(self.survey, stop)
        self.hooks.on_total(total)
        identity = self.identity(size, digest)
        # a sandbox made for this run vanishes with it: nothing to resume, ever
        self.ephemeral = self.dry_run or (self.settings.is_sandbox and transport is None)
        out = self.out = self.settings.out or self._default_out(identity)
        check_writable(out)  # a folder, or a place we cannot write: say so first
        self._check_out(out)
        async with AsyncExitStack() as locks:
            if not self.ephemeral:  # one run per result file and per location, ever
                await hold_run_locks(
                    locks,
                    result_path=out,
                    state_dir=self.settings.state_folder,
                    target=self.settings.target,
                    locations=self.locations(),
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
        limiter = limiter_for(self.settings, sleep=sleep)
        client = connect(self.settings, limiter, transport=transport)
        with ExitStack() as stack:
            try:
                journal = None
                if journal_path(out).exists() and not self.restart and not self.ephemeral:
                    journal = self._journal(out, identity, stack)
                spent: BudgetExhaustedError | None = None
                try:
                    with interrupts.asking() if interrupts else ExitStack():
                        await self.prepare(client, journal)
                except BudgetExhaustedError as error:  # the look-ups took the day's last
                    spent = error
                if journal is None:  # created once nothing can stop the run from starting
                    journal = self._journal(out, identity, stack)
                self.started(journal)
                sender = self.make_sender(client, journal, sleep)
                if spent is not None:  # every row not sent (exit 5): resumed another day
                    sender.stopped_locations[spent.location_id] = str(spent)
                elif interrupts is not None and interrupts.asked:  # the answers are kept
                    sender.interrupt()
                else:
                    with interrupts.sending(sender) if interrupts else ExitStack():
                        await self._send(journal, sender)
            finally:
                await client.aclose()
            abandoned = interrupts is not None and interrupts.abandoned
            counts = {} if abandoned else self._render(out, journal, sender)
        stopped = abandoned or sender.interrupted or sender.stopped_locations
        plan = None if stopped else self.plan(counts, limiter)  # a plan of what was seen whole
        stats = limiter.stats.values()
        return RunSummary(
            title=self.title(),
            input_path=self.path,
            result_path=out,
            counts=counts,
            requests=sum(s.requests for s in stats),
            rate_limited=sum(s.rate_limited for s in stats),
            elapsed=time.monotonic() - started,
            dry_run=self.dry_run,
            association=self.association,
            stopped=str(sender.fatal) if sender.fatal is not None else None,
            interrupted=sender.interrupted,
            not_sent_reasons=tuple(sender.stopped_locations.values()),
            warnings=self.warnings,
            resumed=self.resumed,
            rendered=not abandoned,
            ok=self.ok,
            run_id=uuid.uuid4().hex,
            started_at=started_at,
            input_size=size,
            input_sha256=digest,
            budgets={
                location: {"requests": stat.requests, "daily_remaining": stat.daily_remaining}
                for location, stat in limiter.stats.items()
            },
            plan=plan,
            purposes=self.purposes(),
            kind=self.kind,
            workbook=self.settings.results_format != "csv",
            resumable=self.resumable,
            unwritten=tuple(self.unwritten),
            outside=self.outside,
            window=self.window.describe() if self.window else "",
            settings=self.remembered(),
        )

    async def _send(self, journal: Journal, sender: Sender) -> None:
        (notices, header, rows), stack = self.open_rows()
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
                self.confirmed(job, outcome)  # what the API confirmed, before the journal
                journal.record(job.seq, job.number, outcome, durable=outcome.attempts > 0)
                self.hooks.on_row(outcome.status)

            await sender.run(self.jobs(header, rows, journal), record)

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
        (_, header, rows), stack = self.open_rows()
        writer = ResultWriter(out, header)
        outside = Outcome(
            Status.NOT_SENT,
            error_code=OUTSIDE_RANGE,
            error=f"outside {self.window.describe() if self.window else ''}: not sent; run "
            "again without it to send this row",
        )
        try:
            with stack, writer:
                known = Entries(journal.entries())
                in_doubt = replace(
                    unsent,
                    in_doubt=True,
                    error=f"{unsent.error} (a request was under way: {IN_DOUBT})",
                )
                for seq, row in enumerate(rows):
                    entry = known.at(seq)
                    if entry is not None and entry.outcome is not None:
                        writer.add(seq, row, entry.outcome)
                    elif not self.selected(seq, row):  # --rows, --limit (an earlier run's stays)
                        self.outside += 1
                        writer.add(seq, row, outside)
                    else:  # cut off in flight (intent, no outcome), or never reached
                        outcome = in_doubt if entry is not None and entry.intent else unsent
                        writer.add(seq, row, self.fill(row, outcome))
        except OSError as error:  # open in Excel, read-only, disk full: the journal has it all
            self.unwritten.append(str(out))
            (self.hooks.on_error or self.hooks.on_notice)(unwritten_message(out, error))
        return dict(writer.counts)


def _dry_run_wrote(out: Path) -> bool:
    """``out`` holds a dry run's results (its summary.json says so): nothing to keep."""
    try:
        written = json.loads(summary_path(out).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(written, dict) and written.get("dry_run") is True


class Stopped(Exception):
    """The reading of the input was stopped (Ctrl-C before anything was sent)."""


def _stoppable(rows: Iterator[SourceRow], stop: threading.Event) -> Iterator[SourceRow]:
    """The rows, until ``stop`` is set (checked every few hundred rows: cheap)."""
    for index, row in enumerate(rows):
        if index % 512 == 0 and stop.is_set():
            raise Stopped
        yield row


class Entries:
    """Walks the journal's entries in step with the input's rows (both in input order)."""

    def __init__(self, entries: Iterator[Entry]) -> None:
        self._entries = entries
        self._next = next(entries, None)

    def at(self, seq: int) -> Entry | None:
        while self._next is not None and self._next.seq < seq:
            self._next = next(self._entries, None)
        return self._next if self._next is not None and self._next.seq == seq else None
