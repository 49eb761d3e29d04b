"""``run_import()``: read -> validate -> send -> record, for one input file.

The durable frame (survey, journal, resume, interrupts, the result file) is
:class:`importer.run.DurableRun`; this module says what an import row is: a pair of ids,
validated against the association, created with one request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path

import httpx

from importer.client import Client
from importer.config import Settings
from importer.errors import ConfigError
from importer.journal import Identity, Journal, doubt_times, journal_path
from importer.models import Association, Issue, Outcome, SourceRow, Status
from importer.reader import open_table
from importer.report import redo_rows
from importer.run import DurableRun, Entries, Rows, Sleep
from importer.sender import Job, Retries, RetryPolicy
from importer.summary import Hooks, RunSummary
from importer.target import connect, limiter_for
from importer.validate import RowValidator, column_index

__all__ = ["ImportRun", "RunSummary", "import_file", "list_associations", "run_import"]


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
    hooks: Hooks | None = None,
) -> RunSummary:
    """Import one file. Raises ConfigError/InputError/AuthError before anything is sent.

    ``interruptible``: the first SIGINT/SIGTERM stops taking rows, lets requests in flight end
    (a few seconds at most) and writes the results; the second stops at once.
    """
    run = ImportRun(
        path, settings, dry_run=dry_run, restart=restart, only=only, hooks=hooks or Hooks()
    )
    return asyncio.run(run.execute(transport=transport, sleep=sleep, interruptible=interruptible))


def list_associations(
    settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
) -> list[Association]:
    """The associations of the configured location (``relimport associations``)."""
    if not settings.location_id:
        raise ConfigError("No location: set location_id in config.yaml or pass --location-id.")
    location = settings.location_id

    async def fetch() -> list[Association]:
        client = connect(settings, limiter_for(settings), transport=transport)
        try:
            retries = Retries(RetryPolicy(**settings.retry.model_dump()))

            async def listing() -> list[Association]:
                return await client.list_associations(location)

            return await retries(listing)
        finally:
            await client.aclose()

    return asyncio.run(fetch())


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
    return await run.execute(transport=transport)


class ImportRun(DurableRun):
    """One import: every valid distinct pair of the input created under the association."""

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
        for key, what in (
            ("association", "association"),
            ("first_column", "first id column"),
            ("second_column", "second id column"),
        ):
            if not getattr(settings, key):
                flag = "--" + key.replace("_", "-")
                raise ConfigError(f"No {what}: set {key} in config.yaml or pass {flag}.")
        self.only = only
        self.association: Association | None = None

    def open_rows(self) -> tuple[Rows, AbstractContextManager[object]]:
        stack = ExitStack()
        s = self.settings
        table = stack.enter_context(open_table(self.path, sheet=s.sheet, encoding=s.encoding))
        header, rows = table.header, table.rows
        if self.only is not None:  # the earlier run's journal dates the rows it left in doubt
            since = doubt_times(journal_path(self.path))
            header, rows = redo_rows(header, rows, self.only, self.path, since)
        return (table.notices, header, rows), stack

    def _columns(self, header: tuple[str, ...]) -> tuple[int, int]:
        s, where = self.settings, str(self.path)
        return (
            column_index(header, s.first_column or "", where, "first"),
            column_index(header, s.second_column or "", where, "second"),
        )

    def check_header(self, header: tuple[str, ...]) -> None:
        self._columns(header)

    def identity(self, size: int, digest: str) -> Identity:
        s = self.settings
        return Identity(
            kind=self.kind,
            path=str(self.path.resolve()),
            size=size,
            sha256=digest,
            sheet=s.sheet or "",
            columns=f"{s.first_column} | {s.second_column}",
            association=s.association or "",
            location_id=s.location_id or "",
            selection=",".join(sorted(self.only)) if self.only is not None else "",
            target=s.target,
        )

    def default_result_path(self) -> Path:
        suffix = "dry-run" if self.dry_run else "results"
        return Path("results") / f"{self.path.stem}-{suffix}.csv"

    def title(self) -> str:
        a = self.association
        what = "Dry run" if self.dry_run else "Import"
        if a is None:
            return f"{what} of {self.path}"
        return (
            f"{what} of {self.path} under {a.key or a.id} "
            f"({a.first_object_label or a.first_object_key} -> "
            f"{a.second_object_label or a.second_object_key})"
        )

    async def prepare(self, client: Client, journal: Journal | None) -> None:
        self.association = journal.association() if journal else None  # resume: no request
        if self.association is None:  # retried like any request: 429s and 5xx happen here too
            retries = Retries(RetryPolicy(**self.settings.retry.model_dump()), self.sleep)
            location, wanted = self.settings.location_id or "", self.settings.association or ""
            self.association = await _association(client, location, wanted, retries)

    def started(self, journal: Journal) -> None:
        assert self.association is not None
        journal.keep_association(self.association)

    async def jobs(
        self, header: tuple[str, ...], rows: Iterator[SourceRow], journal: Journal
    ) -> AsyncIterator[Job]:
        association = self.association
        assert association is not None
        s = self.settings
        first, second = self._columns(header)
        validator = RowValidator(
            association,
            first_index=first,
            second_index=second,
            first_column=s.first_column or "",
            second_column=s.second_column or "",
            strict_ids=s.strict_ids,
        )
        known = Entries(journal.entries())
        for seq, row in enumerate(rows):
            if seq % 256 == 0:
                await asyncio.sleep(0)  # let the workers run while rows are read
            entry = known.at(seq)
            verdict = validator.check(row)  # every row, settled or not: duplicates stay exact
            if self.settled(entry):
                continue
            if verdict.outcome is not None:
                self.done(seq, row, journal, verdict.outcome)
            elif verdict.pair is not None:
                note = self._warn(row, verdict.warnings)
                if self.dry_run and note:
                    self.done(seq, row, journal, Outcome(Status.VALID, error=note))
                elif self.dry_run:  # the result file says valid for rows the journal lacks
                    self.hooks.on_row(Status.VALID)
                else:
                    yield Job(
                        seq,
                        row.number,
                        s.location_id or "",
                        association.id,
                        verdict.pair,
                        in_doubt=row.in_doubt or (entry is not None and entry.intent),
                        doubt_since=(entry.intent_at if entry is not None else None)
                        or row.doubt_since,
                        note=note,
                    )

    def _warn(self, row: SourceRow, warnings: tuple[Issue, ...]) -> str:
        if not warnings:
            return ""
        self.warnings += 1
        messages = [warning.message for warning in warnings]
        if self.warnings <= 5:
            self.hooks.on_notice(f"{self.path}: row {row.number}: warning: {messages[0]}.")
        return "; ".join(f"warning: {m}" for m in messages)


async def _association(
    client: Client, location_id: str, key_or_id: str, retries: Retries
) -> Association:
    async def fetch() -> Association | None:
        return await client.get_association(location_id, key_or_id)

    async def listing() -> list[Association]:
        return await client.list_associations(location_id)

    association = await retries(fetch)
    if association is not None:
        return association
    known = await retries(listing)
    listed = ", ".join(f"{a.key} ({a.id})" for a in known) or "none"
    raise ConfigError(
        f"The association '{key_or_id}' does not exist in location {location_id}. "
        f"Associations there: {listed}. Set association to one of these keys or ids."
    )
