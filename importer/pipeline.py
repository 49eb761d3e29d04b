"""``run_import()``: read -> validate -> send -> record, for one input file.

The file is read twice when sending: a first streaming pass proves that the whole file can be
read (an unclosed quote at row 90,000 stops the run before any request) and counts the rows
for the progress bar; the second pass validates and sends. Both passes stream.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path

import httpx

from importer.client import Client
from importer.config import Settings
from importer.errors import ConfigError
from importer.models import SETTLED_OK, Association, Outcome, SourceRow, Status
from importer.ratelimit import RateLimiter, RateLimits
from importer.reader import open_table
from importer.report import ResultWriter, default_result_path
from importer.sender import Job, RetryPolicy, Sender
from importer.validate import RowValidator, column_index

SANDBOX_URL = "https://sandbox.invalid"
MAX_BACKLOG = 10_000  # rows held for ordering before reading pauses
Sleep = Callable[[float], Awaitable[None]]
OnRow = Callable[[Status], None]
OnNotice = Callable[[str], None]


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
    not_sent_reasons: tuple[str, ...] = ()
    warnings: int = 0

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    @property
    def exit_code(self) -> int:
        if self.stopped is not None:
            return 3
        fine = {Status.DUPLICATE_ROW, Status.VALID if self.dry_run else Status.CREATED, *SETTLED_OK}
        return 0 if all(status in fine for status in self.counts) else 1


def connect(
    settings: Settings,
    limiter: RateLimiter,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Client:
    """A client for the configured target (the in-process sandbox when target is 'sandbox')."""
    token = settings.token
    base_url = settings.target
    if settings.is_sandbox:
        from importer.sandbox import DEMO_TOKEN, Sandbox

        base_url = SANDBOX_URL
        transport = transport or Sandbox().transport()
        if token is None:
            from pydantic import SecretStr

            token = SecretStr(DEMO_TOKEN)
    if token is None:
        raise ConfigError(
            f"No API token: set the environment variable {settings.token_env} to the location's "
            "token (a Private Integration token or an OAuth access token)."
        )
    return Client(
        base_url=base_url,
        token=token,
        api_version=settings.api_version,
        limiter=limiter,
        token_env=settings.token_env,
        connect_timeout=settings.timeouts.connect,
        read_timeout=settings.timeouts.read,
        max_connections=settings.concurrency,
        transport=transport,
    )


def limiter_for(settings: Settings, *, sleep: Sleep = asyncio.sleep) -> RateLimiter:
    limits = settings.rate_limit
    return RateLimiter(
        RateLimits(
            max_requests=limits.max_requests,
            window_seconds=limits.window_seconds,
            daily_limit=limits.daily_limit,
            daily_reserve=limits.daily_reserve,
        ),
        sleep=sleep,
    )


def count_rows(path: Path, settings: Settings) -> int:
    """Read the whole file once: InputError now rather than half-way through a run."""
    with open_table(path, sheet=settings.sheet, encoding=settings.encoding) as table:
        return sum(1 for _ in table.rows)


def run_import(
    path: Path,
    settings: Settings,
    *,
    dry_run: bool = False,
    transport: httpx.AsyncBaseTransport | None = None,
    sleep: Sleep = asyncio.sleep,
    on_total: Callable[[int], None] | None = None,
    on_row: OnRow | None = None,
    on_notice: OnNotice | None = None,
) -> RunSummary:
    """Import one file. Raises ConfigError/InputError/AuthError before anything is sent."""
    return asyncio.run(
        import_file(
            path,
            settings,
            dry_run=dry_run,
            transport=transport,
            sleep=sleep,
            on_total=on_total,
            on_row=on_row,
            on_notice=on_notice,
        )
    )


async def import_file(
    path: Path,
    settings: Settings,
    *,
    dry_run: bool = False,
    transport: httpx.AsyncBaseTransport | None = None,
    sleep: Sleep = asyncio.sleep,
    on_total: Callable[[int], None] | None = None,
    on_row: OnRow | None = None,
    on_notice: OnNotice | None = None,
) -> RunSummary:
    started = time.monotonic()
    notice = on_notice or (lambda _: None)
    if not settings.location_id:
        raise ConfigError("No location: set location_id in config.yaml or pass --location-id.")
    if not settings.association:
        raise ConfigError(
            "No association: set association in config.yaml or pass --association "
            "(`relimport associations` lists them)."
        )
    for role in ("first", "second"):
        if not getattr(settings, f"{role}_column"):
            raise ConfigError(
                f"No {role} id column: set {role}_column in config.yaml or pass --{role}-column."
            )
    total = await asyncio.to_thread(count_rows, path, settings)
    if on_total:
        on_total(total)
    out = settings.out or default_result_path(path, suffix="dry-run" if dry_run else "results")
    if settings.out is not None and out.exists():
        raise ConfigError(
            f"{out}: a result file is already there and is never overwritten. "
            "Choose another --out or move the old file away."
        )
    limiter = limiter_for(settings, sleep=sleep)
    client = connect(settings, limiter, transport=transport)
    try:
        association = await _association(client, settings.location_id, settings.association)
        with open_table(path, sheet=settings.sheet, encoding=settings.encoding) as table:
            for line in table.notices:
                notice(f"{path}: {line}")
            validator = RowValidator(
                association,
                first_index=column_index(
                    table.header, settings.first_column or "", str(path), "first"
                ),
                second_index=column_index(
                    table.header, settings.second_column or "", str(path), "second"
                ),
                first_column=settings.first_column or "",
                second_column=settings.second_column or "",
                strict_ids=settings.strict_ids,
            )
            state = _Recorder(ResultWriter(out, table.header), on_row)
            sender = Sender(
                client,
                retry=RetryPolicy(**settings.retry.model_dump()),
                concurrency=settings.concurrency,
                sleep=sleep,
            )
            with state.writer:

                async def jobs() -> AsyncIterator[Job]:
                    for seq, row in enumerate(table.rows):
                        verdict = validator.check(row)
                        if verdict.warnings and verdict.pair is not None:
                            state.warnings += 1
                            if state.warnings <= 5:
                                notice(
                                    f"{path}: row {row.number}: warning: "
                                    f"{verdict.warnings[0].message}."
                                )
                        hint = "; ".join(f"warning: {w.message}" for w in verdict.warnings)
                        if verdict.outcome is not None:
                            state.record(seq, row, verdict.outcome)
                        elif dry_run or verdict.pair is None:
                            state.record(seq, row, Outcome(Status.VALID, error=hint))
                        else:
                            state.rows[seq] = (row, hint)
                            yield Job(seq, settings.location_id or "", association.id, verdict.pair)
                        await state.wait_for_room()

                await sender.run(jobs(), state.on_outcome)
    finally:
        await client.aclose()
    stats = limiter.stats.values()
    return RunSummary(
        input_path=path,
        result_path=out,
        association=association,
        counts=dict(state.writer.counts),
        requests=sum(s.requests for s in stats),
        rate_limited=sum(s.rate_limited for s in stats),
        elapsed=time.monotonic() - started,
        dry_run=dry_run,
        stopped=sender.fatal.message if sender.fatal is not None else None,
        not_sent_reasons=tuple(sender.stopped_locations.values()),
        warnings=state.warnings,
    )


class _Recorder:
    """Glue between the sender's outcomes and the ordered result file."""

    def __init__(self, writer: ResultWriter, on_row: OnRow | None) -> None:
        self.writer = writer
        self.rows: dict[int, tuple[SourceRow, str]] = {}
        self.warnings = 0
        self._on_row = on_row
        self._room = asyncio.Event()

    def record(self, seq: int, row: SourceRow, outcome: Outcome) -> None:
        self.writer.add(seq, row, outcome)
        if self._on_row:
            self._on_row(outcome.status)

    async def on_outcome(self, job: Job, outcome: Outcome) -> None:
        row, hint = self.rows.pop(job.seq)
        if hint and not outcome.error:
            outcome = replace(outcome, error=hint)
        self.record(job.seq, row, outcome)
        if self.writer.backlog <= MAX_BACKLOG:
            self._room.set()

    async def wait_for_room(self) -> None:
        while self.writer.backlog > MAX_BACKLOG:
            self._room.clear()
            await self._room.wait()


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
