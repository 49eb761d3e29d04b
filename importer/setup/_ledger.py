"""Looking after the ledger between runs: what it holds, verifying all of it, forgetting.

``relimport ledger status|verify|forget`` call these; they work from Python too. The built-in
sandbox keeps its ledger in memory for one run, so there is nothing here to look after.
"""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import httpx

from importer.api import Retries, RetryPolicy, check_tokens, connect, limiter_for
from importer.config import Settings
from importer.errors import ConfigError
from importer.run import Repair, RunLock, location_lock_path, repair
from importer.state import AssociationStatus, Ledger, Side, ledger_path
from importer.timing import Sleep


@dataclass(frozen=True)
class LedgerFile:
    """One ledger file of the state folder."""

    path: Path
    target: str
    location: str
    size: int  # bytes, its WAL included
    associations: tuple[AssociationStatus, ...]


@dataclass(frozen=True)
class Scope:
    """What a verify reads: per association id, the side and its records."""

    target: str
    location: str
    sides: dict[str, Side]
    keys: dict[str, str]

    @property
    def records(self) -> int:
        return sum(side.records for side in self.sides.values())

    @property
    def requests(self) -> int:
        """At least one request per record, one more per full page of its relations."""
        return sum(side.pages for side in self.sides.values())


def ledger_files(settings: Settings) -> list[LedgerFile]:
    """Every ledger in the state folder, whatever its target."""
    found = []
    for path in sorted(settings.state_folder.glob("ledger-*.sqlite")):
        try:
            connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        except sqlite3.Error:
            continue
        try:
            ledger = Ledger(connection, read_only=True)
            meta, statuses = ledger.meta(), tuple(ledger.status())
        except sqlite3.Error:
            continue  # not a ledger: left alone
        finally:
            connection.close()
        wal = path.with_name(path.name + "-wal")
        size = path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
        found.append(
            LedgerFile(path, meta.get("target", ""), meta.get("location", ""), size, statuses)
        )
    return found


def _open(settings: Settings, location: str | None) -> Ledger:
    """This target's ledger of a location (ConfigError when there is none to work on)."""
    if settings.is_sandbox:
        raise ConfigError(
            "The built-in sandbox keeps its ledger in memory, for one run: there is no ledger "
            "to work on. Give --base-url (or target in config.yaml) of the API."
        )
    location = location or settings.location_id
    if not location:
        raise ConfigError("No location: pass --location (or set location_id in config.yaml).")
    path = ledger_path(settings.state_folder, settings.target, location)
    ledger = Ledger.open(path, settings.target, location, read_only=True)
    if ledger is None:
        raise ConfigError(
            f"No ledger of {settings.target}, location {location} in {settings.state_folder}: "
            "a real run writes one there. Check state_dir, --base-url and --location."
        )
    ledger.close()
    opened = Ledger.open(path, settings.target, location)
    assert opened is not None
    return opened


def _association_ids(ledger: Ledger, association: str | None) -> dict[str, str]:
    """Association id -> key, of one association (by key or id) or of all in the ledger."""
    keys = {status.association_id: status.key for status in ledger.status()}
    if association is None:
        return keys
    chosen = {i: k for i, k in keys.items() if association in (i, k)}
    if not chosen:
        listed = ", ".join(f"{k or '?'} ({i})" for i, k in keys.items()) or "none"
        raise ConfigError(
            f"The ledger holds no pairs of the association '{association}'. It holds: {listed}."
        )
    return chosen


def verify_scope(settings: Settings, location: str | None, association: str | None) -> Scope:
    """What ``verify`` would read, and its cost (no request)."""
    ledger = _open(settings, location)
    try:
        keys = _association_ids(ledger, association)
        sides = {i: side for i in keys if (side := ledger.side(i)) is not None}
        meta = ledger.meta()
    finally:
        ledger.close()
    return Scope(meta["target"], meta["location"], sides, keys)


def verify_ledger(
    settings: Settings,
    scope: Scope,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    sleep: Sleep = asyncio.sleep,
) -> Repair:
    """Re-read now the relations of every record of the scope: pairs still there are
    confirmed, pairs gone are forgotten."""
    check_tokens(settings, {scope.location}, "ledger verify")

    async def run() -> Repair:
        where = location_lock_path(settings.state_folder, settings.target, scope.location)
        # no run of the location writes its ledger meanwhile (issue 13: one at a time)
        async with RunLock(
            where, f"Location {scope.location}", wait=settings.wait_lock, sleep=sleep
        ):
            return await verify()

    async def verify() -> Repair:
        ledger = _open(settings, scope.location)
        client = connect(settings, limiter_for(settings, sleep=sleep), transport=transport)
        retries = Retries(RetryPolicy.of(settings), sleep)
        done = Repair()
        try:
            for association_id, side in sorted(scope.sides.items()):
                records = ledger.due(association_id, side, verify_days=1)  # every one
                done.add(
                    await repair(
                        client,
                        retries,
                        ledger,
                        scope.location,
                        association_id,
                        side,
                        records,
                        settings.concurrency,
                    )
                )
        finally:
            await client.aclose()
            ledger.close()
        return done

    return asyncio.run(run())


def forget_ledger(settings: Settings, location: str, association: str | None) -> int:
    """Drop a location's entries, or one association's; how many pairs were dropped."""
    ledger = _open(settings, location)
    try:
        if association is None:
            return ledger.forget_all()
        return sum(ledger.forget_all(i) for i in _association_ids(ledger, association))
    finally:
        ledger.close()
