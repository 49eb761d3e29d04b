"""``run_import()``: read -> validate -> send -> record, for one input file.

The input is read three times, each time streaming: a survey (the whole file can be read, its
rows counted and its content hashed) before any request, so a broken row 90,000 stops the run
before the first create; the run itself; and the rendering of the result file from the journal
(every input row once, in input order), which happens however the run ends.

Every outcome goes to the journal (:mod:`importer.journal`) first. Re-running the same command
resumes: final rows cost no request, rows with an intent and no outcome are looked up first.
"""

from __future__ import annotations

import asyncio
import signal
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path

import httpx

from importer.client import Client
from importer.config import Settings
from importer.errors import ConfigError
from importer.journal import Entry, Identity, Journal, file_digest, is_final, journal_path
from importer.models import SETTLED_OK, Association, Issue, Outcome, SourceRow, Status
from importer.reader import Table, open_table
from importer.report import ResultWriter, default_result_path, redo_rows
from importer.sender import INTERRUPTED, Job, RetryPolicy, Sender
from importer.target import connect, limiter_for
from importer.validate import RowValidator, column_index

Sleep = Callable[[float], Awaitable[None]]
OnRow = Callable[[Status], None]
OnNotice = Callable[[str], None]
GRACE_SECONDS = 5.0  # after Ctrl-C, how long requests in flight may take to finish


@dataclass(frozen=True)
class RunSummary:
    """What a run did; ``exit_code`` is what the CLI returns."""

    input_path: Path
    result_path: Path
    association: Association
    counts: dict[Status, int]
    requests: int
    rate_limited: int
    elapsed: float
    dry_run: bool
    stopped: str | None = None  # why the run stopped part-way (exit 3)
    interrupted: bool = False  # Ctrl-C or SIGTERM (exit 4)
    not_sent_reasons: tuple[str, ...] = ()  # locations whose daily budget is spent (exit 5)
    warnings: int = 0
    resumed: int = 0  # rows already final in the journal: no request for them
    rendered: bool = True  # False after a second Ctrl-C: the journal has it all, no result file

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    @property
    def exit_code(self) -> int:
        if self.stopped is not None:
            return 3
        if self.interrupted:
            return 4
        if self.not_sent_reasons and self.counts.get(Status.NOT_SENT):
            return 5
        fine = {Status.DUPLICATE_ROW, Status.VALID if self.dry_run else Status.CREATED, *SETTLED_OK}
        return 0 if all(status in fine for status in self.counts) else 1


def survey(path: Path, settings: Settings, only: frozenset[Status] | None) -> tuple[int, int, str]:
    """Read the whole file once (InputError now, not half-way): rows, size, sha256.

    Also checks that the id columns exist, so a wrong name stops the run before anything.
    """
    with open_table(path, sheet=settings.sheet, encoding=settings.encoding) as table:
        header, rows = table.header, table.rows
        if only is not None:
            header, rows = redo_rows(header, rows, only, path)
        for role in ("first", "second"):
            column_index(header, getattr(settings, f"{role}_column") or "", str(path), role)
        count = sum(1 for _ in rows)
    return count, path.stat().st_size, file_digest(path)


def run_import(
    path: Path,
    settings: Settings,
    *,
    dry_run: bool = False,
    restart: bool = False,
    only: frozenset[Status] | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    sleep: Sleep = asyncio.sleep,
    interruptible: bool = False,
    on_total: Callable[[int], None] | None = None,
    on_row: OnRow | None = None,
    on_notice: OnNotice | None = None,
) -> RunSummary:
    """Import one file. Raises ConfigError/InputError/AuthError before anything is sent.

    ``interruptible``: the first SIGINT/SIGTERM stops taking rows, lets requests in flight end
    (at most ``GRACE_SECONDS``) and writes the results; the second stops at once.
    """
    run = _Run(
        path,
        settings,
        dry_run=dry_run,
        restart=restart,
        only=only,
        on_total=on_total,
        on_row=on_row,
        on_notice=on_notice,
    )
    return asyncio.run(run.execute(transport=transport, sleep=sleep, interruptible=interruptible))


async def import_file(path: Path, settings: Settings, **options: object) -> RunSummary:
    """:func:`run_import` inside an event loop that is already running (no signal handling)."""
    transport = options.pop("transport", None)
    sleep = options.pop("sleep", asyncio.sleep)
    run = _Run(path, settings, **options)  # type: ignore[arg-type]
    return await run.execute(transport=transport, sleep=sleep)  # type: ignore[arg-type]


class _Run:
    def __init__(
        self,
        path: Path,
        settings: Settings,
        *,
        dry_run: bool = False,
        restart: bool = False,
        only: frozenset[Status] | None = None,
        on_total: Callable[[int], None] | None = None,
        on_row: OnRow | None = None,
        on_notice: OnNotice | None = None,
    ) -> None:
        for key, what in (
            ("location_id", "location"),
            ("association", "association"),
            ("first_column", "first id column"),
            ("second_column", "second id column"),
        ):
            if not getattr(settings, key):
                flag = "--" + key.replace("_", "-")
                raise ConfigError(f"No {what}: set {key} in config.yaml or pass {flag}.")
        self.path, self.settings, self.dry_run = path, settings, dry_run
        self.restart, self.only = restart, only
        self.on_total, self.on_row = on_total, on_row
        self.notice = on_notice or (lambda _: None)
        self.warnings = 0
        self.resumed = 0

    def _open(self) -> tuple[Table, tuple[str, ...], Iterator[SourceRow], ExitStack]:
        stack = ExitStack()
        s = self.settings
        table = stack.enter_context(open_table(self.path, sheet=s.sheet, encoding=s.encoding))
        if self.only is None:
            return table, table.header, table.rows, stack
        header, rows = redo_rows(table.header, table.rows, self.only, self.path)
        return table, header, rows, stack

    def _identity(self, size: int, digest: str) -> Identity:
        s = self.settings
        selection = ",".join(sorted(self.only)) if self.only is not None else ""
        return Identity(
            kind="import",
            path=str(self.path.resolve()),
            size=size,
            sha256=digest,
            sheet=s.sheet or "",
            columns=f"{s.first_column} | {s.second_column}",
            association=s.association or "",
            location_id=s.location_id or "",
            selection=selection,
        )

    def _result_path(self) -> Path:
        if self.settings.out is not None:
            return self.settings.out
        if self.dry_run:
            return default_result_path(self.path, suffix="dry-run")
        return Path("results") / f"{self.path.stem}-results.csv"

    def _journal(self, out: Path, identity: Identity, stack: ExitStack) -> Journal:
        if self.dry_run:  # a throw-away journal: one code path, nothing left behind
            folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="relimport-"))
            return stack.enter_context(Journal.open(Path(folder) / "dry-run.journal", identity))
        journal = journal_path(out)
        if self.restart:
            stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
            for old in (out, journal):
                if old.exists():
                    kept = old.with_name(f"{old.name}.replaced-{stamp}")
                    old.rename(kept)
                    self.notice(f"--restart: the earlier {old} is kept as {kept}")
        elif out.exists() and not journal.exists():
            raise ConfigError(
                f"{out}: a result file is already there and is never overwritten. "
                "Choose another --out or move the old file away."
            )
        return stack.enter_context(Journal.open(journal, identity))

    async def execute(
        self,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        interruptible: bool = False,
    ) -> RunSummary:
        started = time.monotonic()
        total, size, digest = await asyncio.to_thread(survey, self.path, self.settings, self.only)
        if self.on_total:
            self.on_total(total)
        out = self._result_path()
        limiter = limiter_for(self.settings, sleep=sleep)
        client = connect(self.settings, limiter, transport=transport)
        with ExitStack() as stack:
            try:
                journal = None
                if journal_path(out).exists() and not self.restart and not self.dry_run:
                    journal = self._journal(out, self._identity(size, digest), stack)
                association = journal.association() if journal else None  # resume: no request
                if association is None:
                    association = await _association(
                        client, self.settings.location_id or "", self.settings.association or ""
                    )
                if journal is None:  # created only once nothing can stop the run from starting
                    journal = self._journal(out, self._identity(size, digest), stack)
                journal.keep_association(association)
                sender = Sender(
                    client,
                    retry=RetryPolicy(**self.settings.retry.model_dump()),
                    concurrency=self.settings.concurrency,
                    sleep=sleep,
                    before_send=lambda job: journal.intend(job.seq, job.number),
                )
                signals = _Signals(sender, self.notice) if interruptible else None
                with signals or ExitStack():
                    await self._send(association, journal, sender)
            finally:
                await client.aclose()
            abandoned = signals is not None and signals.abandoned
            counts = {} if abandoned else self._render(out, journal, sender)
        stats = limiter.stats.values()
        return RunSummary(
            input_path=self.path,
            result_path=out,
            association=association,
            counts=counts,
            requests=sum(s.requests for s in stats),
            rate_limited=sum(s.rate_limited for s in stats),
            elapsed=time.monotonic() - started,
            dry_run=self.dry_run,
            stopped=sender.fatal.message if sender.fatal is not None else None,
            interrupted=sender.interrupted,
            not_sent_reasons=tuple(sender.stopped_locations.values()),
            warnings=self.warnings,
            resumed=self.resumed,
            rendered=not abandoned,
        )

    async def _send(self, association: Association, journal: Journal, sender: Sender) -> None:
        s = self.settings
        table, header, rows, stack = self._open()
        with stack:
            for line in table.notices:
                self.notice(f"{self.path}: {line}")
            validator = RowValidator(
                association,
                first_index=column_index(header, s.first_column or "", str(self.path), "first"),
                second_index=column_index(header, s.second_column or "", str(self.path), "second"),
                first_column=s.first_column or "",
                second_column=s.second_column or "",
                strict_ids=s.strict_ids,
            )

            async def jobs() -> AsyncIterator[Job]:
                known = _Entries(journal.entries())
                for seq, row in enumerate(rows):
                    entry = known.at(seq)
                    verdict = validator.check(row)  # every row: duplicates stay exact
                    if entry is not None and entry.outcome is not None and is_final(entry.outcome):
                        self.resumed += 1
                        self._done(entry.outcome.status)
                    elif verdict.outcome is not None:
                        journal.record(seq, row.number, verdict.outcome, durable=False)
                        self._done(verdict.outcome.status)
                    elif verdict.pair is not None:
                        note = self._warn(row, verdict.warnings)
                        if self.dry_run:
                            journal.record(
                                seq, row.number, Outcome(Status.VALID, error=note), durable=False
                            )
                            self._done(Status.VALID)
                            continue
                        yield Job(
                            seq,
                            row.number,
                            s.location_id or "",
                            association.id,
                            verdict.pair,
                            in_doubt=entry is not None and entry.intent,
                            note=note,
                        )
                    if seq % 256 == 0:
                        await asyncio.sleep(0)  # let the workers run while rows are read

            async def record(job: Job, outcome: Outcome) -> None:
                if job.note and not outcome.error:
                    outcome = replace(outcome, error=job.note)
                journal.record(job.seq, job.number, outcome, durable=outcome.attempts > 0)
                self._done(outcome.status)

            await sender.run(jobs(), record)

    def _warn(self, row: SourceRow, warnings: tuple[Issue, ...]) -> str:
        if not warnings:
            return ""
        self.warnings += 1
        messages = [warning.message for warning in warnings]
        if self.warnings <= 5:
            self.notice(f"{self.path}: row {row.number}: warning: {messages[0]}.")
        return "; ".join(f"warning: {m}" for m in messages)

    def _done(self, status: Status) -> None:
        if self.on_row:
            self.on_row(status)

    def _render(self, out: Path, journal: Journal, sender: Sender) -> dict[Status, int]:
        """Write the result file from the journal: every input row once, in input order."""
        if sender.fatal is not None:
            unsent = Outcome(
                Status.NOT_SENT,
                error_code="auth",
                error=f"not sent: the run stopped because {sender.fatal.message}",
            )
        elif sender.interrupted:
            unsent = Outcome(Status.NOT_SENT, error_code="interrupted", error=INTERRUPTED)
        else:
            reason = next(iter(sender.stopped_locations.values()), "not sent")
            unsent = Outcome(Status.NOT_SENT, error_code="daily_budget", error=reason)
        _, header, rows, stack = self._open()
        with stack, ResultWriter(out, header) as writer:
            known = _Entries(journal.entries())
            for seq, row in enumerate(rows):
                entry = known.at(seq)
                outcome = entry.outcome if entry is not None else None
                writer.add(seq, row, outcome or unsent)
        return dict(writer.counts)


class _Entries:
    """Walks the journal's entries in step with the input's rows (both in input order)."""

    def __init__(self, entries: Iterator[Entry]) -> None:
        self._entries = entries
        self._next = next(entries, None)

    def at(self, seq: int) -> Entry | None:
        while self._next is not None and self._next.seq < seq:
            self._next = next(self._entries, None)
        return self._next if self._next is not None and self._next.seq == seq else None


class _Signals:
    """First SIGINT/SIGTERM: interrupt gently, cancel what is still in flight after a grace
    period. Second: cancel at once; the journal stays consistent, no result file is written
    (the next run writes it)."""

    def __init__(self, sender: Sender, notice: OnNotice) -> None:
        self._sender, self._notice = sender, notice
        self.abandoned = False
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()

    def _on_signal(self) -> None:
        if not self._sender.interrupted:
            self._sender.interrupt()
            self._notice(
                "Stopping: no new rows are sent; requests in flight finish "
                f"(at most {GRACE_SECONDS:.0f} s). Press Ctrl-C again to stop at once."
            )
            self._loop.call_later(GRACE_SECONDS, self._cancel)
        else:
            self.abandoned = True
            self._cancel()

    def _cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def __enter__(self) -> _Signals:
        for number in (signal.SIGINT, signal.SIGTERM):
            self._loop.add_signal_handler(number, self._on_signal)
        return self

    def __exit__(self, *exc_info: object) -> bool:
        for number in (signal.SIGINT, signal.SIGTERM):
            self._loop.remove_signal_handler(number)
        # a cancellation we caused is the end of an interrupted run, not an error
        if exc_info[0] is asyncio.CancelledError and self._sender.interrupted:
            if self._task is not None:
                self._task.uncancel()
            return True
        return False


async def _association(client: Client, location_id: str, key_or_id: str) -> Association:
    association = await client.get_association(location_id, key_or_id)
    if association is not None:
        return association
    known = await client.list_associations(location_id)
    listed = ", ".join(f"{a.key} ({a.id})" for a in known) or "none"
    raise ConfigError(
        f"The association '{key_or_id}' does not exist in location {location_id}. "
        f"Associations there: {listed}. Set association to one of these keys or ids."
    )
