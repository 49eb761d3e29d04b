"""``run_import()``: what happens to one row of an import, top to bottom.

A row of the input goes through five stages; each has its section below, in this order:

1. **read**: :meth:`Import.open_rows` gives the rows with the numbers the user sees (header
   row, ``--split``, ``--only``); the first reading (:meth:`Import.survey`) checks the header,
   counts the rows and notes each row's location and association.
2. **resolve**: :meth:`Import.prepare` asks the API, before anything is written, what the
   rows need: their associations, the ids their natural keys stand for, whether their records
   exist, the relations already there (``--skip-existing``), the ledger's drift.
3. **validate**: :meth:`Import.jobs` judges each row (:meth:`importer.validate.Checks.judge`:
   scope, cells, resolution, duplicates); a row that needs no request (invalid, a duplicate,
   linked already by the ledger or the API) gets its outcome here.
4. **send**: every other row becomes a :class:`Job` that the :class:`Sender` creates, rate
   limited and retried, its intent in the journal before it leaves.
5. **record**: the API's answer goes to the ledger (:meth:`Import.confirmed`), then to the
   journal; the result file is written from the journal, every row once, in input order.

What every durable run shares (the journal, resume, locks, interrupts, the result file) is
:class:`importer.run._frame.DurableRun`, given these stages as plain callables (``Steps``).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack
from dataclasses import replace
from pathlib import Path

import httpx

from importer.api import (
    RateLimiter,
    list_associations,
)
from importer.config import Settings
from importer.errors import ConfigError
from importer.models import Issue, Outcome, Pair, RowWindow, SourceRow, Status
from importer.read import HeaderRule, open_table
from importer.report import (
    CACHED,
    PURPOSES,
    Hooks,
    LocationPlan,
    Plan,
    RunSummary,
    finish_run,
    redo_rows,
    result_name,
)
from importer.run._drift import known_outcome, made_by
from importer.run._frame import DurableRun
from importer.run._journal import Identity, Journal, doubt_times, journal_path
from importer.run._mirror import Mirror, MirrorSender
from importer.run._resolve import Resolve
from importer.run._sender import Job, Sender
from importer.run._steps import Book, Rows, Steps, Survey
from importer.state import EXISTING
from importer.timing import Clock, Sleep
from importer.validate import (
    Checks,
    split_ids,
    with_ids,
)

__all__ = ["Import", "RunSummary", "import_file", "list_associations", "run_import"]


def run_import(
    path: Path,
    settings: Settings,
    *,
    dry_run: bool = False,
    restart: bool = False,
    only: frozenset[Status] | None = None,
    window: RowWindow | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    sleep: Sleep = asyncio.sleep,
    clock: Clock = time.monotonic,
    interruptible: bool = False,
    hooks: Hooks | None = None,
    resume_command: str | None = None,
    lang: str = "en",
) -> RunSummary:
    """Import one file. Raises ConfigError/InputError/AuthError before anything is sent.

    ``window`` (``--rows``, ``--limit``): only those rows are processed; the others are
    ``not_sent`` (``outside_range``), and a later run without it sends them (the journal does
    not change with it). ``interruptible``: the first SIGINT/SIGTERM stops taking rows, lets
    requests in flight end (a few seconds at most) and writes the results; the second stops
    at once. ``sleep`` and ``clock``: every wait and reading of the time (a virtual clock in
    tests).

    Writes the result CSV and, beside it, summary.json (with ``resume_command`` as the command
    that resumes the run), a dry run's plan.json and, as ``results_format`` asks, the workbook
    (its help sheet in ``lang``).
    """
    run = Import(
        path,
        settings,
        dry_run=dry_run,
        restart=restart,
        only=only,
        window=window,
        hooks=hooks or Hooks(),
    ).run
    summary = asyncio.run(
        run.execute(transport=transport, sleep=sleep, clock=clock, interruptible=interruptible)
    )
    return finish_run(summary, run.hooks, resume_command, lang)


async def import_file(
    path: Path,
    settings: Settings,
    *,
    dry_run: bool = False,
    transport: httpx.AsyncBaseTransport | None = None,
    hooks: Hooks | None = None,
) -> RunSummary:
    """:func:`run_import` inside an event loop that is already running (no signal handling)."""
    run = Import(path, settings, dry_run=dry_run, hooks=hooks or Hooks()).run
    return finish_run(await run.execute(transport=transport), run.hooks, None, "en")


class Import:
    """One import: every valid distinct pair of the input created under its association.

    ``run`` is its durable frame; the methods below are its stages, in the row's order."""

    def __init__(
        self,
        path: Path,
        settings: Settings,
        *,
        dry_run: bool,
        hooks: Hooks,
        restart: bool = False,
        only: frozenset[Status] | None = None,
        window: RowWindow | None = None,
    ) -> None:
        self.run = DurableRun(
            path, settings, dry_run=dry_run, restart=restart, hooks=hooks, only=only, window=window
        )
        self.path, self.settings, self.dry_run, self.hooks = path, settings, dry_run, hooks
        _needed_settings(settings)
        if settings.mirror and (only is not None or window is not None):
            cut = window.describe() if window is not None else "--only"
            raise ConfigError(
                f"--mirror needs the whole export: with {cut} the run sees a few rows, and "
                "every other relation relimport created would be deleted. Leave one of them off."
            )
        self.checks = Checks(settings, str(path))
        self.to_send: Counter[str] = Counter()  # location -> rows a real run sends
        self.known = 0  # rows the ledger settled (no request)
        self.warnings = 0  # rows sent with a warning
        self.journal: Journal | None = None  # once the run has opened it
        self.surveyed = True  # the first reading was a survey (else: glance())
        self.held: list[str] = []  # warnings of a run without a survey, until its order check
        self.mirror = Mirror(settings) if settings.mirror else None
        self.resolve = Resolve(self.run, self.checks, self.mirror, self.open_rows)
        self.duplicates: Mapping[str, tuple[int, ...]] = {}  # titles shared by columns
        self.run.steps = Steps(
            kind="import",
            identity=self.identity(),
            result_path=result_name(path, "dry-run" if dry_run else "results"),
            open_rows=self.open_rows,
            survey=self.survey,
            glance=self.glance if self._needs_no_survey() else None,
            prepare=self.resolve.prepare,
            started=self.started,
            jobs=self.jobs,
            sender=MirrorSender if self.mirror is not None else Sender,
            confirmed=self.confirmed,
            fill=self.fill,
            sum_up=self.sum_up,
        )

    # -- 1. read ----------------------------------------------------------------------------

    def open_rows(self) -> tuple[Rows, AbstractContextManager[object]]:
        stack = ExitStack()
        s = self.settings
        rule = HeaderRule()  # a result file given back (--only) has its header on row 1
        if self.run.only is None:
            rule = HeaderRule(s.header_row, s.no_header, None if s.header_row else self.checks.fits)
        table = stack.enter_context(
            open_table(self.path, sheet=s.sheet, encoding=s.encoding, header=rule)
        )
        header, rows = table.header, table.rows
        self.duplicates = table.duplicates
        if s.split:  # one row per pair of ids, once the header has told where they are
            rows = split_ids(rows, lambda: self.checks.columns, s.split)
        if self.run.only is not None:  # the earlier run's journal dates the rows it left in doubt
            since = doubt_times(journal_path(self.path))
            header, rows = redo_rows(header, rows, self.run.only, self.path, since)
        return (table.notices, header, rows), stack

    def survey(self, header: tuple[str, ...], rows: Iterator[SourceRow]) -> Survey:
        """The first reading: the header checked (InputError), the rows counted, each row's
        location and association noted."""
        self.checks.bind(header, self.duplicates)
        count, self.resolve.scope_keys = self.checks.scope_keys(rows)
        if self.mirror is not None:  # its deletions come after the rows in the journal
            self.mirror.first_seq = count
        if self.checks.per_row:
            locations = {location for location, _ in self.resolve.scope_keys}
        else:
            locations = {self.settings.location_id or ""}
        return Survey(count, frozenset(locations))

    def _needs_no_survey(self) -> bool:
        """Whether a dry run can do without the first reading: it sends nothing, so its
        checks of the whole file may come after the pass; its one location and association
        are known before any row is read; and no --mirror (its deletions are numbered after
        the rows). It reads its file once, or twice with questions about the rows (look-ups,
        record checks, --skip-existing: read before the pass, see ``Resolve``)."""
        return self.dry_run and not self.checks.per_row and self.mirror is None

    def glance(self, header: tuple[str, ...]) -> frozenset[str]:
        """A dry run's survey without its reading (see :meth:`_needs_no_survey`): the header
        checked; the id shapes are counted as the rows are judged (:meth:`jobs`)."""
        self.checks.bind(header, self.duplicates)
        self.checks.count_as_judged()
        self.surveyed = False
        return frozenset({self.settings.location_id or ""})

    def identity(self) -> Identity:
        """What a resume must find the same: the input, how it is read, where it goes."""
        s = self.settings
        (first, first_lookup), (second, second_lookup) = s.sides()
        columns = f"{first} ({first_lookup}) | {second} ({second_lookup})"
        if self.checks.per_row:
            columns += f" | location: {s.location_column} | association: {s.association_column}"
        if s.split:  # rows are pairs: a resume must read them the same way
            columns += f" | split {s.split}"
        if s.no_header or s.header_row:  # how the file is read: a resume reads it the same way
            columns += " | no header" if s.no_header else f" | header row {s.header_row}"
        return Identity(
            kind="import",
            path=str(self.path.resolve()),
            size=0,  # the frame fills in the file's size and digest
            sha256="",
            sheet=s.sheet or "",
            columns=columns,
            association=s.association or "",
            location_id=s.location_id or "",
            selection=",".join(sorted(self.run.only)) if self.run.only is not None else "",
            target=s.target,
        )

    # -- 2. resolve: Resolve.prepare (run/_resolve.py); the journal keeps what it found ----

    def started(self, journal: Journal) -> None:
        self.journal = journal
        if self.resolve.association is not None and not self.checks.per_row:
            journal.keep_association(self.resolve.association)
        if self.mirror is not None and self.mirror.planned and not self.mirror.kept(journal):
            self.mirror.keep(journal)

    # -- 3. validate, 4. send: each row judged; what needs a request becomes a job --------

    async def jobs(self, rows: Iterator[SourceRow], book: Book) -> AsyncIterator[Job]:
        """Every row in input order: settled by an earlier run, outside ``--rows``, judged
        without a request (``book.done``), or yielded as the job the sender sends."""
        checks, lookups = self.checks, self.resolve.lookups
        assert lookups is not None
        judge, entry_at, selected = checks.judge, book.entry, book.selected  # once, not per row
        resuming, windowed = book.resuming, book.windowed  # else no row needs those calls
        for seq, row in enumerate(rows):
            if seq % 256 == 0:
                await asyncio.sleep(0)  # let the workers run while rows are read
            entry = entry_at(seq) if resuming else None
            if entry is not None and entry.outcome is not None and entry.final:
                self._seen(row, entry.outcome)  # so that duplicates stay exact
                if selected(seq, row):  # else not counted: outside --rows / --limit
                    book.settled(entry)
                continue
            if windowed and not selected(seq, row):  # --rows / --limit: not_sent, not journalled
                continue
            judged = judge(row, lookups)
            location, association, pair = judged.location, judged.association, judged.pair
            if judged.outcome is not None:
                book.done(seq, row, judged.outcome)
                continue
            assert pair is not None and association is not None
            in_doubt = row.in_doubt or (entry is not None and entry.intent)
            note = self._warn(row, judged.warnings) if judged.warnings else ""
            # a row in doubt may have been linked by an earlier run of ours: the sender judges
            linked = None if in_doubt else self._linked(location, association.id, pair)
            if linked is not None:
                book.done(seq, row, with_ids(linked, pair))
            elif self.dry_run:  # what a real run would send
                self.to_send[location] += 1
                if note or not checks.plain_ids:  # else the result file says valid itself
                    valid = Outcome(Status.VALID, error=note)
                    book.done(seq, row, with_ids(valid, pair))
                else:
                    book.valid(seq, row, pair)
            else:
                yield Job(
                    seq,
                    row.number,
                    location,
                    association.id,
                    pair,
                    in_doubt=in_doubt,
                    doubt_since=(entry.intent_at if entry is not None else None) or row.doubt_since,
                    note=note,
                )
        if not self.surveyed:  # the survey's check of the order, now: nothing was sent
            self.checks.count_shapes()
            self.checks.check_order()
            for line in self.held:
                self.hooks.on_notice(line)
        if self.mirror is not None and self.resolve.association is not None:  # after every create
            location = self.settings.location_id or ""
            for job in self.mirror.jobs(
                book.journal, location, self.resolve.association.id, dry_run=self.dry_run
            ):
                yield job

    def _linked(self, location: str, association_id: str, pair: Pair) -> Outcome | None:
        """The outcome of a pair known to be linked already, by the ledger of known relations
        or by the relations read with --skip-existing: no request for it."""
        ledgers, lookups = self.run.ledgers, self.resolve.lookups
        existing = lookups.existing if lookups is not None else None
        ledger = ledgers.get(location) if ledgers is not None else None
        held = ledger.known(association_id, pair) if ledger is not None else None
        if held is not None:
            self.known += 1
            return known_outcome(held)
        relation_id = existing.get((location, association_id), {}).get(pair) if existing else None
        if relation_id is None:
            return None
        if ledger is not None:  # the read confirmed it
            ledger.confirm(association_id, pair, relation_id, EXISTING)
        return Outcome(
            Status.ALREADY_EXISTS,
            relation_id=relation_id,
            error_code="existed",
            error="linked before this run (read with --skip-existing): not sent",
        )

    def _seen(self, row: SourceRow, outcome: Outcome) -> None:
        """A row settled by an earlier run: its pair (the ids the journal kept) is seen."""
        key, association, _ = self.checks.scope(row)
        if association is not None and outcome.first_id and outcome.second_id:
            pair = Pair(outcome.first_id, outcome.second_id)
            self.checks.validator(key, association).settle(row.number, pair)

    def _warn(self, row: SourceRow, warnings: tuple[Issue, ...]) -> str:
        self.warnings += 1
        messages = [warning.message for warning in warnings]
        if self.warnings <= 5:
            line = f"{self.path}: row {row.number}: warning: {messages[0]}."
            if self.surveyed:
                self.hooks.on_notice(line)
            else:  # said once the order is checked: swapped columns warn of every row
                self.held.append(line)
        return "; ".join(f"warning: {m}" for m in messages)

    # -- 5. record: what the API confirmed, in the ledger before the journal ---------------

    def confirmed(self, job: Job, outcome: Outcome) -> None:
        ledgers = self.run.ledgers
        ledger = ledgers.get(job.location_id) if ledgers is not None else None
        if job.relation_id and self.mirror is not None:  # a deletion of --mirror
            self.mirror.confirmed(job, outcome, ledger)
            return
        by = made_by(outcome)
        if by is not None and ledger is not None:
            key = self.resolve.keys.get(job.association_id, "")
            ledger.confirm(
                job.association_id, job.pair, outcome.relation_id, by, association_key=key
            )

    # -- the results -------------------------------------------------------------------

    def fill(self, row: SourceRow, outcome: Outcome) -> Outcome:
        """A dry run's plainly valid row (not journalled): its ids are its cells."""
        if outcome.status is Status.VALID and not outcome.first_id and self.checks.plain_ids:
            first, second = self.checks.columns  # a new Outcome: cheaper than replace()
            return Outcome(
                Status.VALID,
                error=outcome.error,
                first_id=row.cells[first],
                second_id=row.cells[second],
            )
        return outcome

    def sum_up(self, summary: RunSummary, limiter: RateLimiter) -> RunSummary:
        """The summary completed once the results are written: title, association, warnings,
        requests by purpose, a dry run's plan (of a run seen whole), --mirror's deletions."""
        if self.known and summary.rendered:
            self.hooks.on_notice(
                f"Ledger: {self.known} rows were linked already (the ledger of known "
                "relations): no request for them."
            )
        if self.mirror is not None and summary.rendered and self.journal is not None:
            self.hooks.on_notice(
                self.mirror.render(summary.result_path, self.journal, dry_run=self.dry_run)
            )
        whole = (  # a plan of rows seen whole, and written
            summary.rendered
            and not summary.interrupted
            and not summary.not_sent_reasons
            and not summary.unwritten
        )
        return replace(
            summary,
            title=self.title(),
            association=self.resolve.association,
            warnings=self.warnings,
            purposes=self.purposes(),
            plan=self.plan(summary.counts, limiter) if whole else None,
            deletions=self.mirror.counts if self.mirror is not None else summary.deletions,
        )

    def title(self) -> str:
        a = self.resolve.association
        what = "Dry run" if self.dry_run else "Import"
        if self.checks.per_row:
            found = sum(1 for x in self.checks.associations.values() if x is not None)
            locations = len({location for location, _ in self.checks.associations})
            named = f"{found} association" + ("" if found == 1 else "s")
            return f"{what} of {self.path} ({named} in {locations} locations)"
        if a is None:
            return f"{what} of {self.path}"
        return (
            f"{what} of {self.path} under {a.key or a.id} "
            f"({a.first_object_label or a.first_object_key} -> "
            f"{a.second_object_label or a.second_object_key})"
        )

    def purposes(self) -> dict[str, int]:
        spent = self.resolve.spent
        if self.mirror is not None and not self.dry_run:
            spent["mirror deletes"] = self.mirror.requests
        return {purpose: n for purpose, by in spent.items() if (n := sum(by.values()))}

    def plan(self, counts: Mapping[Status, int], limiter: RateLimiter) -> Plan | None:
        """A dry run's forecast of the real run: the same requests but those it may reuse."""
        if not self.dry_run:
            return None
        limits, spent = self.settings.rate_limit, self.resolve.spent
        locations = []
        for location in sorted(set(self.to_send) | {x for c in spent.values() for x in c}):
            needs = {purpose: self._needed(purpose, location) for purpose in PURPOSES}
            stats = limiter.stats.get(location)
            locations.append(
                LocationPlan(
                    location=location,
                    requests=needs,
                    daily_remaining=stats.daily_remaining if stats else limits.daily_limit,
                    daily_limit=stats.daily_limit if stats else limits.daily_limit,
                    reserve=limits.daily_reserve,
                    per_second=(stats.effective_max / stats.window_seconds)
                    if stats and stats.window_seconds
                    else limits.max_requests / limits.window_seconds,
                )
            )
        now = {p: sum(spent.get(p, Counter()).values()) for p in PURPOSES}
        return Plan(
            rows={status.value: n for status, n in counts.items()},
            locations=tuple(locations),
            spent_now={p: n for p, n in now.items() if n},
            reuse_hours=self.resolve.reuse_hours,
            existing_found=counts.get(Status.ALREADY_EXISTS, 0)
            if self.settings.skip_existing
            else None,
        )

    def _needed(self, purpose: str, location: str) -> int:
        """Requests of one purpose the real run will make in a location, as this dry run saw:
        the same, but for look-ups it may reuse (only those that found nothing are asked)."""
        if purpose == "creates":
            return self.to_send[location]
        if purpose == "mirror deletes":
            planned = self.mirror.counts.get(Status.VALID, 0) if self.mirror else 0
            return planned if location == self.settings.location_id else 0
        resolve = self.resolve
        if purpose in CACHED and resolve.reuse_hours:
            return resolve.lookups.unkept[location, purpose] if resolve.lookups is not None else 0
        return resolve.spent.get(purpose, Counter())[location]


def _needed_settings(settings: Settings) -> None:
    """Every missing setting an import needs, at once (not one per run)."""
    needed = [("first_column", "first id column"), ("second_column", "second id column")]
    if not settings.association_column:
        needed.insert(0, ("association", "association"))
    missing = [(key, what) for key, what in needed if not getattr(settings, key)]
    if len(missing) == 1:
        key, what = missing[0]
        flag = "--" + key.replace("_", "-")
        raise ConfigError(f"No {what}: set {key} in config.yaml or pass {flag}.")
    if missing:
        keys = ", ".join(key for key, _ in missing)
        flags = ", ".join(f"--{key.replace('_', '-')}" for key, _ in missing)
        raise ConfigError(f"Missing settings: {keys}. Set them in config.yaml or pass {flags}.")
