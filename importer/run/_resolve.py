"""Stage 2 of an import: what only the API knows, asked before anything is written.

:meth:`Resolve.prepare` asks, in this order: each row scope's association (a location the
token may not access is noted, its rows not sent); the look-ups of natural keys and the record
checks, read from the rows once (answers kept in the answer cache for ``lookup_cache_hours``);
with ``--skip-existing``, the relations already there when reading them costs fewer requests
than sending; on a new run, the ledger's drift repair; with ``--mirror``, the plan of its
deletions. The columns the wrong way round stop the run here, before the first create.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractContextManager, asynccontextmanager, contextmanager

from importer.api import (
    Client,
    Retries,
    RetryPolicy,
    check_tokens,
    fetch_association,
    find_association,
)
from importer.errors import AuthError, ConfigError
from importer.models import Association, Pair, SourceRow
from importer.run._drift import made_by, repair_scopes
from importer.run._frame import DurableRun
from importer.run._journal import Journal
from importer.run._mirror import Mirror
from importer.run._steps import Entries, Rows
from importer.validate import (
    CACHE_NAME,
    AnswerCache,
    Checks,
    Lookups,
    Question,
    ScopeKey,
    check_properties,
)


class Resolve:
    """The questions of one import, and their answers: its association(s), the look-ups'."""

    def __init__(
        self,
        run: DurableRun,
        checks: Checks,
        mirror: Mirror | None,
        open_rows: Callable[[], tuple[Rows, AbstractContextManager[object]]],
    ) -> None:
        self.run, self.checks, self.mirror, self.open_rows = run, checks, mirror, open_rows
        self.settings, self.hooks, self.path, self.dry_run = (
            run.settings,
            run.hooks,
            run.path,
            run.dry_run,
        )
        self.scope_keys: set[ScopeKey] = set()  # (location, association) of the rows
        self.association: Association | None = None  # the first found (all, for one scope)
        self.lookups: Lookups | None = None
        self.spent: dict[str, Counter[str]] = {}  # phase -> location -> requests
        self.keys: dict[str, str] = {}  # association id -> key, for the ledger

    async def prepare(self, client: Client, journal: Journal | None) -> None:
        """Every question, before the first create (``journal``: a resumed run's)."""
        s = self.settings
        retries = Retries(RetryPolicy.of(s), self.run.sleep)
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

    @contextmanager
    def unsettled_rows(self, journal: Journal | None) -> Iterator[Iterator[SourceRow]]:
        """The input's rows but those a resumed run's journal has settled (they need no
        look-up: their outcome, resolved ids included, is in the journal)."""
        (_, _, rows), stack = self.open_rows()
        with stack:
            if journal is None:
                yield (row for seq, row in enumerate(rows) if self.run.selected(seq, row))
                return
            known = Entries(journal.entries())

            def unsettled() -> Iterator[SourceRow]:
                for seq, row in enumerate(rows):
                    entry = known.at(seq)
                    if (entry is None or not entry.final) and self.run.selected(seq, row):
                        yield row

            yield unsettled()

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
                keys, records = checks.questions(self.run.counted(rows))
        cache = AnswerCache(self.run.out.parent / CACHE_NAME, s.target, self.reuse_hours)
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
        ledger = self.run.ledgers.get(location) if self.run.ledgers is not None else None
        return ledger is not None and ledger.known(association_id, pair) is not None

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

    def _refeed(self, journal: Journal) -> None:
        """A resume: what the journal holds that the API confirmed goes in the ledger again
        (a process killed between the two writes loses nothing; nothing is dated anew)."""
        ledgers = self.run.ledgers
        assert ledgers is not None
        if not self.checks.per_row:  # one scope: the journal holds all it takes, no reading
            ledger = ledgers.get(self.settings.location_id or "")
            if ledger is None or self.association is None:
                return
            for kept in journal.entries():
                outcome = kept.outcome
                if outcome is not None and (by := made_by(outcome)) is not None:
                    pair = Pair(outcome.first_id, outcome.second_id)
                    ledger.remember(self.association.id, pair, outcome.relation_id, by)
            return
        self.hooks.on_phase("reading", None)  # a resume reads the file once more: say so
        (_, _, rows), stack = self.open_rows()
        with stack:
            known = Entries(journal.entries())
            for seq, row in enumerate(self.run.counted(rows)):
                entry = known.at(seq)
                outcome = entry.outcome if entry is not None else None
                if outcome is None or (by := made_by(outcome)) is None:
                    continue
                key, association, _ = self.checks.scope(row)
                ledger = ledgers.get(key[0])
                if association is not None and ledger is not None:
                    pair = Pair(outcome.first_id, outcome.second_id)
                    ledger.remember(association.id, pair, outcome.relation_id, by)

    async def _repair(self, client: Client, retries: Retries) -> None:
        """Drift repair: re-read the relations of the ledger's oldest records, so that a
        relation deleted behind our back is forgotten and its rows created again."""
        assert self.run.ledgers is not None
        scopes = {(key[0], a.id): a for key, a in self.checks.associations.items() if a}
        self.keys.update({a.id: a.key for a in scopes.values()})
        s = self.settings
        done = await repair_scopes(
            client, retries, self.run.ledgers, scopes.keys(), s.ledger_verify_days, s.concurrency
        )
        for line in done.notices():
            self.hooks.on_notice(line)

    def _plan_mirror(self, mirror: Mirror) -> None:
        """--mirror: what to delete, from the ledger and every row of the file (before any
        request is sent: a plan over the cap stops the run)."""
        assert self.run.ledgers is not None and self.lookups is not None
        location, association = self.settings.location_id or "", self.association
        ledger = self.run.ledgers.get(location)
        if ledger is None or association is None:
            return
        (_, _, rows), stack = self.open_rows()
        with stack:
            resolved = self.checks.resolved(rows, self.lookups)
            notice = mirror.plan(ledger, association, (found for _, _, found in resolved))
        if notice is not None:
            self.hooks.on_notice(notice)

    @property
    def reuse_hours(self) -> float:
        """How long look-up answers are kept: never for a sandbox in this process, whose
        data lives as long as the run."""
        return 0.0 if self.settings.is_sandbox else self.settings.lookup_cache_hours
