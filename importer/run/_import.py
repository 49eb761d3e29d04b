"""``run_import()``: read -> validate -> send -> record, for one input file.

The durable frame (survey, journal, resume, interrupts, the result file) is
:class:`importer.run.DurableRun`; this module says what an import row is: a pair of ids,
validated against the association, created with one request.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import AbstractContextManager, ExitStack, asynccontextmanager, contextmanager
from dataclasses import replace
from pathlib import Path

import httpx

from importer.api import (
    Client,
    RateLimiter,
    Retries,
    RetryPolicy,
    check_tokens,
    fetch_association,
    find_association,
    list_associations,
)
from importer.config import Settings
from importer.errors import AuthError, ConfigError
from importer.models import Association, Issue, Outcome, Pair, RowWindow, SourceRow, Status
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
from importer.run._drift import known_outcome, made_by, repair_scopes
from importer.run._frame import DurableRun, Entries, Rows
from importer.run._journal import Identity, Journal, doubt_times, journal_path
from importer.run._mirror import Mirror, MirrorSender
from importer.run._sender import Job, Sender
from importer.state import EXISTING
from importer.timing import Sleep
from importer.validate import (
    CACHE_NAME,
    AnswerCache,
    Checks,
    Lookups,
    Question,
    ScopeKey,
    check_properties,
    split_ids,
    with_ids,
)

__all__ = ["ImportRun", "RunSummary", "import_file", "list_associations", "run_import"]

WORKERS = 32  # workers in all, about, when a run spans many locations


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
    at once.

    Writes the result CSV and, beside it, summary.json (with ``resume_command`` as the command
    that resumes the run), a dry run's plan.json and, as ``results_format`` asks, the workbook
    (its help sheet in ``lang``).
    """
    run = ImportRun(
        path, settings, dry_run=dry_run, restart=restart, only=only, hooks=hooks or Hooks()
    )
    if window is not None and settings.mirror:
        raise ConfigError(
            f"--mirror needs the whole export: with {window.describe()} the run sees a few rows, "
            "and every other relation relimport created would be deleted. Leave one of them off."
        )
    run.window = window
    summary = asyncio.run(
        run.execute(transport=transport, sleep=sleep, interruptible=interruptible)
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
    run = ImportRun(
        path, settings, dry_run=dry_run, restart=False, only=None, hooks=hooks or Hooks()
    )
    return finish_run(await run.execute(transport=transport), run.hooks, None, "en")


class ImportRun(DurableRun):
    """One import: every valid distinct pair of the input created under its association."""

    kind = "import"

    def __init__(
        self,
        path: Path,
        settings: Settings,
        *,
        dry_run: bool,
        restart: bool,
        only: frozenset[Status] | None,
        hooks: Hooks,
    ) -> None:
        super().__init__(path, settings, dry_run=dry_run, restart=restart, hooks=hooks)
        needed = [("first_column", "first id column"), ("second_column", "second id column")]
        if not settings.association_column:
            needed.insert(0, ("association", "association"))
        missing = [(key, what) for key, what in needed if not getattr(settings, key)]
        if len(missing) == 1:
            key, what = missing[0]
            flag = "--" + key.replace("_", "-")
            raise ConfigError(f"No {what}: set {key} in config.yaml or pass {flag}.")
        if missing:  # every one at once, not one per run
            keys = ", ".join(key for key, _ in missing)
            flags = ", ".join(f"--{key.replace('_', '-')}" for key, _ in missing)
            raise ConfigError(f"Missing settings: {keys}. Set them in config.yaml or pass {flags}.")
        self.only = only
        self.association: Association | None = None
        self.checks = Checks(settings, str(path))
        self.scope_keys: set[ScopeKey] = set()
        self.lookups: Lookups | None = None
        self.spent: dict[str, Counter[str]] = {}  # phase -> location -> requests
        self.to_send: Counter[str] = Counter()  # location -> rows a real run sends
        self._keys: dict[str, str] = {}  # association id -> key, for the ledger
        self.known = 0  # rows the ledger settled (no request)
        if settings.mirror and only is not None:
            raise ConfigError(
                "--mirror needs the whole export: with --only the file holds a few rows, and "
                "every other relation relimport created would be deleted. Leave one of them off."
            )
        self.mirror = Mirror(settings) if settings.mirror else None
        if self.mirror is not None:
            self.sender_class = MirrorSender
        self.duplicates: Mapping[str, tuple[int, ...]] = {}  # titles shared by columns

    def open_rows(self) -> tuple[Rows, AbstractContextManager[object]]:
        stack = ExitStack()
        s = self.settings
        rule = HeaderRule()  # a result file given back (--only) has its header on row 1
        if self.only is None:
            rule = HeaderRule(s.header_row, s.no_header, None if s.header_row else self.checks.fits)
        table = stack.enter_context(
            open_table(self.path, sheet=s.sheet, encoding=s.encoding, header=rule)
        )
        header, rows = table.header, table.rows
        self.duplicates = table.duplicates
        if s.split:  # one row per pair of ids, once the header has told where they are
            rows = split_ids(rows, lambda: self.checks.columns, s.split)
        if self.only is not None:  # the earlier run's journal dates the rows it left in doubt
            since = doubt_times(journal_path(self.path))
            header, rows = redo_rows(header, rows, self.only, self.path, since)
        return (table.notices, header, rows), stack

    def check_header(self, header: tuple[str, ...]) -> None:
        self.checks.bind(header, self.duplicates)

    def locations(self) -> set[str]:
        if self.checks.per_row:
            return {location for location, _ in self.scope_keys if location}
        return super().locations()

    def tally(self, rows: Iterator[SourceRow]) -> int:
        count, self.scope_keys = self.checks.scope_keys(rows)
        if self.mirror is not None:  # its deletions come after the rows in the journal
            self.mirror.first_seq = count
        return count

    def identity(self, size: int, digest: str) -> Identity:
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
            kind=self.kind,
            path=str(self.path.resolve()),
            size=size,
            sha256=digest,
            sheet=s.sheet or "",
            columns=columns,
            association=s.association or "",
            location_id=s.location_id or "",
            selection=",".join(sorted(self.only)) if self.only is not None else "",
            target=s.target,
        )

    def default_result_path(self) -> Path:
        return result_name(self.path, "dry-run" if self.dry_run else "results")

    def title(self) -> str:
        a = self.association
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

    async def prepare(self, client: Client, journal: Journal | None) -> None:
        s = self.settings
        retries = Retries(RetryPolicy(**s.retry.model_dump()), self.sleep)
        if not self.checks.per_row:
            self.scope_keys = {(s.location_id or "", s.association or "")}
        check_tokens(s, {location for location, _ in self.scope_keys}, str(self.path))
        self.association = journal.association() if journal and not self.checks.per_row else None
        async with self.phase("associations", client):
            for key in sorted(self.scope_keys):
                if self.association is not None:  # resumed: no request
                    found: Association | None = self.association
                elif self.checks.per_row:
                    found = await self._per_row_association(client, key, retries)
                else:  # retried like any request: 429s and 5xx happen here too
                    found = await fetch_association(client, key[0], key[1], retries)
                self.checks.associations[key] = found
        self.association = next(filter(None, self.checks.associations.values()), None)
        refused = self.checks.refused
        if self.association is None and refused:  # no location would take a request
            raise next(iter(refused.values()))
        for location, error in sorted(refused.items()):
            self.hooks.on_notice(
                f"{self.path}: the token may not access location {location} ({error.status}): "
                "its rows are not sent (not_sent, location_refused); the others go on."
            )
        if self.association is None:
            raise ConfigError(
                f"{self.path}: none of the associations the rows name exists in its location. "
                "relimport associations --location-id <location> lists them."
            )
        self.checks.check_lookups()
        async with self.phase("object schemas", client):  # a wrong property: stop, no look-up
            await check_properties(client, retries, self.checks, self.hooks.on_notice)
        await self._preflight(client, retries, journal)
        if journal is not None and not self.dry_run:
            self._refeed(journal)
        if journal is None:  # a resumed run's first process did its share of them
            async with self.phase("ledger checks", client):
                await self._repair(client, retries)
        if self.mirror is not None and (journal is None or not self.mirror.kept(journal)):
            self._plan_mirror(self.mirror)

    def _plan_mirror(self, mirror: Mirror) -> None:
        """--mirror: what to delete, from the ledger and every row of the file (before any
        request is sent: a plan over the cap stops the run)."""
        assert self.ledgers is not None and self.lookups is not None
        location, association = self.settings.location_id or "", self.association
        ledger = self.ledgers.get(location)
        if ledger is None or association is None:
            return
        (_, _, rows), stack = self.open_rows()
        with stack:
            resolved = self.checks.resolved(rows, self.lookups)
            notice = mirror.plan(ledger, association, (found for _, _, found in resolved))
        if notice is not None:
            self.hooks.on_notice(notice)

    def _refeed(self, journal: Journal) -> None:
        """A resume: what the journal holds that the API confirmed goes in the ledger again
        (a process killed between the two writes loses nothing; nothing is dated anew)."""
        assert self.ledgers is not None
        (_, _, rows), stack = self.open_rows()
        with stack:
            known = Entries(journal.entries())
            for seq, row in enumerate(rows):
                entry = known.at(seq)
                outcome = entry.outcome if entry is not None else None
                if outcome is None or (by := made_by(outcome)) is None:
                    continue
                key, association, _ = self.checks.scope(row)
                ledger = self.ledgers.get(key[0])
                if association is not None and ledger is not None:
                    pair = Pair(outcome.first_id, outcome.second_id)
                    ledger.remember(association.id, pair, outcome.relation_id, by)

    async def _repair(self, client: Client, retries: Retries) -> None:
        """Drift repair: re-read the relations of the ledger's oldest records, so that a
        relation deleted behind our back is forgotten and its rows created again."""
        assert self.ledgers is not None
        scopes = {(key[0], a.id): a for key, a in self.checks.associations.items() if a}
        self._keys.update({a.id: a.key for a in scopes.values()})
        s = self.settings
        done = await repair_scopes(
            client, retries, self.ledgers, scopes.keys(), s.ledger_verify_days, s.concurrency
        )
        for line in done.notices():
            self.hooks.on_notice(line)

    async def _per_row_association(
        self, client: Client, key: ScopeKey, retries: Retries
    ) -> Association | None:
        """A row's association (None if missing); a location the token may not access (403)
        is noted, so that its rows are not sent while the other locations' are."""
        location = key[0]
        if location in self.checks.refused:
            return None
        try:
            return await find_association(client, location, key[1], retries)
        except AuthError as error:
            if error.status != 403 or "scope" in str(error):  # the token, not the location
                raise
            self.checks.refused[location] = error
            return None

    @asynccontextmanager
    async def phase(self, name: str, client: Client) -> AsyncIterator[None]:
        """Count the requests of one phase of the run, per location (for the plan)."""
        before = client.requests()
        try:
            yield
        finally:
            spent = self.spent.setdefault(name, Counter())
            for location, requests in client.requests().items():
                spent[location] += requests - before.get(location, 0)

    async def _preflight(self, client: Client, retries: Retries, journal: Journal | None) -> None:
        """Read the rows once, ask what only the API knows, and stop if the columns are
        swapped: all before the first create."""
        s, checks = self.settings, self.checks
        checks.count_shapes()
        checks.check_order()  # the shapes alone may tell: not one request spent
        keys: list[Question] = []
        records: list[Question] = []
        if s.check_records or not checks.plain_ids:  # else nothing to ask: no second reading
            self.hooks.on_phase("reading", None)  # before opening: a workbook takes seconds
            with self.unsettled_rows(journal) as rows:
                keys, records = checks.questions(self.counted(rows))
        cache = AnswerCache(self.out.parent / CACHE_NAME, s.target, self.reuse_hours)
        self.lookups = lookups = Lookups(client, retries, cache, s.concurrency)
        hooks = self.hooks
        progress = hooks.on_progress

        def begin(name: str) -> Callable[[int], None]:
            return lambda total: hooks.on_phase(name, total)

        async with self.phase("look-ups", client):
            await lookups.ask(keys, "look-ups", begin("look-ups"), progress)
        async with self.phase("record checks", client):
            await lookups.ask(records, "record checks", begin("record checks"), progress)
            others = checks.other_kind_questions(lookups, records)
            await lookups.ask(others, "record checks", begin("record checks"), progress)
        cache.close()  # every answer the run needs is in memory now
        checks.count_kinds(lookups, records)
        checks.check_order()
        if s.skip_existing:
            await self._read_existing(client, lookups, journal)

    async def _read_existing(
        self, client: Client, lookups: Lookups, journal: Journal | None
    ) -> None:
        """--skip-existing: per association, read the relations of the side with fewer
        records when that costs fewer requests than sending every pair."""
        with self.unsettled_rows(journal) as rows:
            sides = self.checks.record_sides(rows, lookups, self._known)
        async with self.phase("existing relations", client):
            for (location, association_id), (records, pairs) in sorted(sides.items()):
                if len(records) >= pairs:
                    self.hooks.on_notice(
                        f"--skip-existing: reading the existing relations would cost at least "
                        f"{len(records)} requests, more than sending the {pairs} pairs: sending."
                    )
                    continue
                await lookups.read_existing(location, association_id, records)

    def _known(self, location: str, association_id: str, pair: Pair) -> bool:
        ledger = self.ledgers.get(location) if self.ledgers is not None else None
        return ledger is not None and ledger.known(association_id, pair) is not None

    @contextmanager
    def unsettled_rows(self, journal: Journal | None) -> Iterator[Iterator[SourceRow]]:
        """The input's rows but those a resumed run's journal has settled (they need no
        look-up: their outcome, resolved ids included, is in the journal)."""
        (_, _, rows), stack = self.open_rows()
        with stack:
            if journal is None:
                yield (row for seq, row in enumerate(rows) if self.selected(seq, row))
                return
            known = Entries(journal.entries())

            def unsettled() -> Iterator[SourceRow]:
                for seq, row in enumerate(rows):
                    entry = known.at(seq)
                    if (entry is None or not entry.final) and self.selected(seq, row):
                        yield row

            yield unsettled()

    def concurrency(self) -> int:
        """Workers per location: ``concurrency`` for a few locations; for many, fewer each (at
        least 2), about :data:`WORKERS` in all. A location at 10 requests a second needs one or
        two in flight, and every connection more costs CPU in the shared pool."""
        locations = len({location for location, _ in self.scope_keys}) or 1
        return max(2, min(self.settings.concurrency, WORKERS // locations))

    def started(self, journal: Journal) -> None:
        if self.association is not None and not self.checks.per_row:
            journal.keep_association(self.association)
        if self.mirror is not None and self.mirror.planned and not self.mirror.kept(journal):
            self.mirror.keep(journal)

    async def jobs(
        self, header: tuple[str, ...], rows: Iterator[SourceRow], journal: Journal
    ) -> AsyncIterator[Job]:
        checks, lookups = self.checks, self.lookups
        assert lookups is not None
        known = Entries(journal.entries())
        for seq, row in enumerate(rows):
            if seq % 256 == 0:
                await asyncio.sleep(0)  # let the workers run while rows are read
            entry = known.at(seq)
            if entry is not None and entry.outcome is not None and entry.final:
                self._seen(row, entry.outcome)  # so that duplicates stay exact
                if self.selected(seq, row):  # else not counted: outside --rows / --limit
                    self.settled(entry)
                continue
            if not self.selected(seq, row):  # --rows / --limit: not_sent, not journalled
                continue
            judged = checks.judge(row, lookups)
            location, association, pair = judged.location, judged.association, judged.pair
            if judged.outcome is not None:
                self.done(seq, row, journal, judged.outcome)
                continue
            assert pair is not None and association is not None
            in_doubt = row.in_doubt or (entry is not None and entry.intent)
            # a row in doubt may have been linked by an earlier run of ours: the sender judges
            relation_id = (
                lookups.existing.get((location, association.id), {}).get(pair)
                if lookups.existing and not in_doubt
                else None
            )
            ledger = self.ledgers.get(location) if self.ledgers is not None else None
            held = ledger.known(association.id, pair) if ledger and not in_doubt else None
            note = self._warn(row, judged.warnings)
            if held is not None:
                self.known += 1
                self.done(seq, row, journal, with_ids(known_outcome(held), pair))
            elif relation_id is not None:
                found = Outcome(
                    Status.ALREADY_EXISTS,
                    relation_id=relation_id,
                    error_code="existed",
                    error="linked before this run (read with --skip-existing): not sent",
                )
                if ledger is not None:  # the read confirmed it
                    ledger.confirm(association.id, pair, relation_id, EXISTING)
                self.done(seq, row, journal, with_ids(found, pair))
            elif self.dry_run:
                self.to_send[location] += 1
                if note or not checks.plain_ids:  # else the result file says valid itself
                    valid = Outcome(Status.VALID, error=note)
                    self.done(seq, row, journal, with_ids(valid, pair))
                else:
                    self.hooks.on_row(Status.VALID)
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
        if self.mirror is not None and self.association is not None:  # after every create
            location = self.settings.location_id or ""
            for job in self.mirror.jobs(
                journal, location, self.association.id, dry_run=self.dry_run
            ):
                yield job

    def confirmed(self, job: Job, outcome: Outcome) -> None:
        ledger = self.ledgers.get(job.location_id) if self.ledgers is not None else None
        if job.relation_id and self.mirror is not None:  # a deletion of --mirror
            self.mirror.confirmed(job, outcome, ledger)
            return
        by = made_by(outcome)
        if by is not None and ledger is not None:
            key = self._keys.get(job.association_id, "")
            ledger.confirm(
                job.association_id, job.pair, outcome.relation_id, by, association_key=key
            )

    def _seen(self, row: SourceRow, outcome: Outcome) -> None:
        """A row settled by an earlier run: its pair (the ids the journal kept) is seen."""
        key, association, _ = self.checks.scope(row)
        if association is not None and outcome.first_id and outcome.second_id:
            pair = Pair(outcome.first_id, outcome.second_id)
            self.checks.validator(key, association).settle(row.number, pair)

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

    def purposes(self) -> dict[str, int]:
        if self.mirror is not None and not self.dry_run:
            self.spent["mirror deletes"] = self.mirror.requests
        return {purpose: n for purpose, spent in self.spent.items() if (n := sum(spent.values()))}

    async def execute(
        self,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        interruptible: bool = False,
    ) -> RunSummary:
        summary = await super().execute(
            transport=transport, sleep=sleep, interruptible=interruptible
        )
        if self.mirror is None:
            return summary
        return replace(summary, deletions=self.mirror.counts)

    def _render(self, out: Path, journal: Journal, sender: Sender) -> dict[Status, int]:
        counts = super()._render(out, journal, sender)
        if self.known:
            self.hooks.on_notice(
                f"Ledger: {self.known} rows were linked already (the ledger of known "
                "relations): no request for them."
            )
        if self.mirror is not None:
            self.hooks.on_notice(self.mirror.render(out, journal, dry_run=self.dry_run))
        return counts

    @property
    def reuse_hours(self) -> float:
        """How long look-up answers are kept: never for a sandbox in this process, whose
        data lives as long as the run."""
        return 0.0 if self.settings.is_sandbox else self.settings.lookup_cache_hours

    def plan(self, counts: Mapping[Status, int], limiter: RateLimiter) -> Plan | None:
        """A dry run's forecast of the real run: the same requests but those it may reuse."""
        if not self.dry_run:
            return None
        limits = self.settings.rate_limit
        locations = []
        for location in sorted(set(self.to_send) | {x for c in self.spent.values() for x in c}):
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
        spent = {p: sum(self.spent.get(p, Counter()).values()) for p in PURPOSES}
        return Plan(
            rows={status.value: n for status, n in counts.items()},
            locations=tuple(locations),
            spent_now={p: n for p, n in spent.items() if n},
            reuse_hours=self.reuse_hours,
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
        if purpose in CACHED and self.reuse_hours:
            return self.lookups.unkept[location, purpose] if self.lookups is not None else 0
        return self.spent.get(purpose, Counter())[location]

    def _warn(self, row: SourceRow, warnings: tuple[Issue, ...]) -> str:
        if not warnings:
            return ""
        self.warnings += 1
        messages = [warning.message for warning in warnings]
        if self.warnings <= 5:
            self.hooks.on_notice(f"{self.path}: row {row.number}: warning: {messages[0]}.")
        return "; ".join(f"warning: {m}" for m in messages)
