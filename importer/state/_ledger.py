"""The ledger of known relations: what the API confirmed, kept between runs.

One SQLite file (WAL) per target and location in the state folder
(``ledger-<host>-<location>-<hash>.sqlite``; its ``meta`` table names the target and the
location). Per association it holds every pair the API confirmed to this tool: created by a
run (``made_by`` ``relimport``), answered as a duplicate or found by a look-up or a read
(``existing``), with the relation id when known and when it was last confirmed.

An entry is written only once the API confirmed it: ``kill -9`` at any instant leaves the
ledger claiming nothing the API did not say. Confirmations are committed in groups, the way
the journal commits outcomes (:mod:`importer.run`): those that arrive together, in one
turn of the event loop, in one transaction with ``synchronous=NORMAL`` (at most
:data:`GROUP`; without an event loop, at once); :meth:`Ledger.close` commits and checkpoints,
which syncs the file. A kill loses only the confirmations of that instant, a power cut those
since the last sync: the run's journal still holds them (a resume gives them back), and a
pair the ledger lost is only asked or sent again, never claimed. A pair the
ledger holds is settled by a run without a request; drift repair (:mod:`importer.drift`)
re-reads the oldest entries so that relations deleted behind the tool's back come back.

The built-in sandbox keeps its ledger in memory, as long as the sandbox object lives (see
:func:`open_ledgers`): samples and tests stay repeatable, and no file is ever left behind.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import sqlite3
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from importer.config import Settings
from importer.errors import ConfigError
from importer.models import Pair
from importer.timing import Clock

FORMAT = "relimport-ledger/1"
GROUP = 32  # confirmations per commit, at most
RELIMPORT, EXISTING = "relimport", "existing"  # who made a relation
PAGE = 100  # relations per page of a record's read (as the client asks)
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS associations (id TEXT PRIMARY KEY, key TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS pairs (
    association TEXT NOT NULL,
    first_id TEXT NOT NULL,
    second_id TEXT NOT NULL,
    relation_id TEXT NOT NULL DEFAULT '',
    made_by TEXT NOT NULL,
    confirmed_at REAL NOT NULL,
    PRIMARY KEY (association, first_id, second_id)
);
CREATE INDEX IF NOT EXISTS pairs_second ON pairs (association, second_id);
CREATE INDEX IF NOT EXISTS pairs_relation ON pairs (relation_id);
"""


@dataclass(frozen=True, slots=True)
class Known:
    """A pair the ledger holds."""

    relation_id: str
    made_by: str
    confirmed_at: float

    @property
    def day(self) -> str:
        """The day it was last confirmed (UTC), as the error column says it."""
        return datetime.fromtimestamp(self.confirmed_at, UTC).strftime("%Y-%m-%d")


@dataclass(frozen=True, slots=True)
class Side:
    """Which side of an association's pairs drift repair reads, and what that costs."""

    column: str  # "first_id" or "second_id"
    records: int  # distinct records on that side
    pages: int  # the requests reading every one of them takes (at least one each)


@dataclass(frozen=True, slots=True)
class AssociationStatus:
    association_id: str
    key: str
    pairs: int
    made_by_relimport: int
    oldest: float | None


def ledger_path(folder: Path, target: str, location: str) -> Path:
    """``<folder>/ledger-<host>-<location>-<8 hex of the target>.sqlite``."""
    host = urlsplit(target).hostname or target
    digest = hashlib.sha256(target.encode()).hexdigest()[:8]
    name = re.sub(r"[^A-Za-z0-9.-]+", "_", f"{host}-{location}")
    return folder / f"ledger-{name}-{digest}.sqlite"


class Ledger:
    """One location's ledger. ``read_only`` (a dry run): what it forgets is forgotten for this
    run only, in memory, and nothing is written."""

    def __init__(
        self, connection: sqlite3.Connection, *, read_only: bool = False, clock: Clock = time.time
    ) -> None:
        self._db = connection
        self.read_only = read_only
        self.clock = clock
        self._forgotten: set[tuple[str, Pair]] = set()
        #: The associations the ledger holds pairs of, once asked: a pair of any other is
        #: unknown without a query (a first run, a dry run: a million rows, no query each).
        self._holding: set[str] | None = None
        #: (association id, key) written to the associations table by this process
        self._keys: set[tuple[str, str]] = set()
        self._pending = 0  # confirmations not committed yet
        self._handle: asyncio.Handle | None = None

    @classmethod
    def open(
        cls,
        path: Path,
        target: str,
        location: str,
        *,
        read_only: bool = False,
        clock: Clock = time.time,
    ) -> Ledger | None:
        """The ledger file at ``path`` (created unless ``read_only``: then None if absent).
        ConfigError when it is not a ledger, or another target's or location's."""
        if read_only and not path.exists():
            return None
        try:
            if read_only:
                connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                connection = sqlite3.connect(path, isolation_level=None)
                connection.execute("PRAGMA journal_mode=WAL")
                connection.execute("PRAGMA synchronous=NORMAL")  # synced at close (checkpoint)
                connection.executescript(_SCHEMA)
            meta = dict(connection.execute("SELECT key, value FROM meta"))
        except (OSError, sqlite3.Error) as error:
            raise ConfigError(
                f"{path}: the ledger cannot be opened ({error}). Check the state folder "
                "(state_dir), or move the file away to start a new ledger."
            ) from None
        ledger = cls(connection, read_only=read_only, clock=clock)
        if not meta and not read_only:
            ledger._write_meta(target, location)
        elif (meta.get("format"), meta.get("target"), meta.get("location")) != (
            FORMAT,
            target,
            location,
        ):
            connection.close()
            raise ConfigError(
                f"{path}: this ledger is not the one of {target}, location {location} (it says "
                f"{meta.get('target')}, location {meta.get('location')}, format "
                f"{meta.get('format')}). Move it away to start a new ledger."
            )
        return ledger

    @classmethod
    def memory(cls, target: str, location: str, *, clock: Clock = time.time) -> Ledger:
        """A ledger that lives as long as this object (the built-in sandbox's)."""
        connection = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        connection.executescript(_SCHEMA)
        ledger = cls(connection, clock=clock)
        ledger._write_meta(target, location)
        return ledger

    def _write_meta(self, target: str, location: str) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO meta VALUES (?, ?)",
                [("format", FORMAT), ("target", target), ("location", location)],
            )

    def meta(self) -> dict[str, str]:
        return dict(self._db.execute("SELECT key, value FROM meta"))

    def commit(self) -> None:
        """Commit the confirmations pending (they survive kill -9 from now on)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._db.in_transaction:
            self._db.execute("COMMIT")
        self._pending = 0

    def close(self) -> None:
        """Commit, checkpoint (which syncs the file) and close."""
        self.commit()
        if not self.read_only:
            self._db.execute("PRAGMA wal_checkpoint(PASSIVE)")
        self._db.close()

    # -- reading ---------------------------------------------------------------------------

    def known(self, association_id: str, pair: Pair) -> Known | None:
        if self._holding is None:
            self._holding = set(self.associations())
        if association_id not in self._holding or (association_id, pair) in self._forgotten:
            return None
        row = self._db.execute(
            "SELECT relation_id, made_by, confirmed_at FROM pairs "
            "WHERE association = ? AND first_id = ? AND second_id = ?",
            (association_id, pair.first_id, pair.second_id),
        ).fetchone()
        return Known(*row) if row else None

    def pairs(self, association_id: str) -> Iterator[tuple[Pair, Known]]:
        """Every pair of an association (a cursor: memory stays flat)."""
        cursor = self._db.execute(
            "SELECT first_id, second_id, relation_id, made_by, confirmed_at FROM pairs "
            "WHERE association = ? ORDER BY first_id, second_id",
            (association_id,),
        )
        for first, second, *rest in cursor:
            if (association_id, pair := Pair(first, second)) not in self._forgotten:
                yield pair, Known(*rest)

    def pairs_of(self, association_id: str, column: str, record_id: str) -> dict[Pair, Known]:
        """The pairs whose record on side ``column`` is ``record_id``."""
        assert column in ("first_id", "second_id")
        cursor = self._db.execute(
            "SELECT first_id, second_id, relation_id, made_by, confirmed_at FROM pairs "
            f"WHERE association = ? AND {column} = ?",
            (association_id, record_id),
        )
        found = {Pair(first, second): Known(*rest) for first, second, *rest in cursor}
        return {p: k for p, k in found.items() if (association_id, p) not in self._forgotten}

    def associations(self) -> list[str]:
        """The association ids the ledger holds pairs of."""
        query = "SELECT DISTINCT association FROM pairs ORDER BY association"
        return [row[0] for row in self._db.execute(query)]

    def side(self, association_id: str) -> Side | None:
        """The side whose records cost fewest requests to read (None: no pairs)."""
        sides = []
        for column in ("first_id", "second_id"):
            records, pages = self._db.execute(
                f"SELECT count(*), coalesce(sum(n / {PAGE} + 1), 0) FROM "
                f"(SELECT count(*) AS n FROM pairs WHERE association = ? GROUP BY {column})",
                (association_id,),
            ).fetchone()
            sides.append(Side(column, records, pages))
        best = min(sides, key=lambda s: (s.pages, s.records))
        return best if best.records else None

    def due(self, association_id: str, side: Side, verify_days: int) -> list[str]:
        """The records drift repair reads now: the oldest confirmed, enough that every record
        is read at least once every ``verify_days`` runs, and every one not confirmed for
        ``verify_days`` days."""
        grouped = (
            f"SELECT {side.column} AS record, min(confirmed_at) AS oldest FROM pairs "
            f"WHERE association = ? GROUP BY {side.column}"
        )
        cutoff = self.clock() - verify_days * 86_400
        (stale,) = self._db.execute(
            f"SELECT count(*) FROM ({grouped}) WHERE oldest < ?", (association_id, cutoff)
        ).fetchone()
        share = max(stale, math.ceil(side.records / verify_days))
        query = f"{grouped} ORDER BY oldest, record LIMIT ?"
        return [row[0] for row in self._db.execute(query, (association_id, share))]

    def status(self) -> list[AssociationStatus]:
        rows = self._db.execute(
            "SELECT p.association, coalesce(a.key, ''), count(*), "
            "sum(p.made_by = 'relimport'), min(p.confirmed_at) FROM pairs p "
            "LEFT JOIN associations a ON a.id = p.association "
            "GROUP BY p.association ORDER BY p.association"
        )
        return [AssociationStatus(*row) for row in rows]

    # -- writing (each call one committed transaction) -------------------------------------

    def confirm(
        self,
        association_id: str,
        pair: Pair,
        relation_id: str,
        made_by: str,
        *,
        association_key: str = "",
    ) -> None:
        """The API confirmed this pair now. ``relimport`` overrides ``existing``, never back;
        a known relation id is kept when this confirmation has none."""
        self._forgotten.discard((association_id, pair))
        if self.read_only:
            return
        if self._holding is not None:
            self._holding.add(association_id)
        if not self._db.in_transaction:
            self._db.execute("BEGIN")
        if association_key and (association_id, association_key) not in self._keys:
            self._db.execute(  # once per association and process: not on every confirmation
                "INSERT OR REPLACE INTO associations VALUES (?, ?)",
                (association_id, association_key),
            )
            self._keys.add((association_id, association_key))
        self._db.execute(
            "INSERT INTO pairs VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (association, first_id, second_id) DO UPDATE SET "
            "relation_id = CASE WHEN excluded.relation_id = '' THEN relation_id "
            "ELSE excluded.relation_id END, "
            "made_by = CASE WHEN excluded.made_by = 'relimport' THEN 'relimport' "
            "ELSE made_by END, "
            "confirmed_at = max(confirmed_at, excluded.confirmed_at)",
            (
                association_id,
                pair.first_id,
                pair.second_id,
                relation_id,
                made_by,
                self.clock(),
            ),
        )
        self._pending += 1
        if self._pending >= GROUP:
            self.commit()
        elif self._handle is None:
            try:
                self._handle = asyncio.get_running_loop().call_soon(self.commit)
            except RuntimeError:  # no event loop to wake us: commit now
                self.commit()

    def remember(self, association_id: str, pair: Pair, relation_id: str, made_by: str) -> None:
        """A confirmation the journal of an earlier process kept (a resume): added if the
        ledger lost it, without dating a confirmation that is not new."""
        if self.read_only or self.known(association_id, pair) is not None:
            return
        self.confirm(association_id, pair, relation_id, made_by)

    def forget(self, association_id: str, pairs: list[Pair]) -> None:
        """These pairs are not on the server (any more)."""
        self._forgotten.update((association_id, pair) for pair in pairs)
        if self.read_only:
            return
        with self._db:
            self._db.executemany(
                "DELETE FROM pairs WHERE association = ? AND first_id = ? AND second_id = ?",
                [(association_id, p.first_id, p.second_id) for p in pairs],
            )

    def forget_relation(self, relation_id: str) -> None:
        """The relation with this id was deleted (``undo``)."""
        if self.read_only or not relation_id:
            return
        with self._db:
            self._db.execute("DELETE FROM pairs WHERE relation_id = ?", (relation_id,))

    def forget_all(self, association_id: str | None = None) -> int:
        """Drop an association's entries, or all of them; how many were dropped."""
        with self._db:
            if association_id is None:
                return self._db.execute("DELETE FROM pairs").rowcount
            return self._db.execute(
                "DELETE FROM pairs WHERE association = ?", (association_id,)
            ).rowcount


#: The built-in sandbox's ledgers: per sandbox object, per location, gone with the sandbox.
_IN_MEMORY: weakref.WeakKeyDictionary[object, dict[str, sqlite3.Connection]] = (
    weakref.WeakKeyDictionary()
)


class Ledgers:
    """The run's ledgers, one per location, opened on first need (None: no ledger).

    ``memory``: where the in-memory ledgers of the built-in sandbox live (None: files)."""

    def __init__(
        self,
        settings: Settings,
        *,
        memory: dict[str, sqlite3.Connection] | None,
        read_only: bool,
        clock: Clock = time.time,
    ) -> None:
        self._settings = settings
        self._memory = memory
        self._read_only = read_only
        self._clock = clock
        self._open: dict[str, Ledger | None] = {}

    def get(self, location: str) -> Ledger | None:
        if not self._settings.ledger or not location:
            return None
        if location not in self._open:
            self._open[location] = self._ledger(location)
        return self._open[location]

    def _ledger(self, location: str) -> Ledger | None:
        target = self._settings.target
        if self._memory is None:
            path = ledger_path(self._settings.state_folder, target, location)
            return Ledger.open(path, target, location, read_only=self._read_only, clock=self._clock)
        if location not in self._memory:
            self._memory[location] = Ledger.memory(target, location)._db
        return Ledger(self._memory[location], read_only=self._read_only, clock=self._clock)

    def close(self) -> None:
        for ledger in filter(None, self._open.values()):
            if self._memory is None:
                ledger.close()
            else:  # the sandbox's stay open: their confirmations are committed
                ledger.commit()
        self._open.clear()


@contextmanager
def open_ledgers(
    settings: Settings, transport: object | None, *, read_only: bool, clock: Clock = time.time
) -> Iterator[Ledgers]:
    """The ledgers of a run. The built-in sandbox's live in memory: made for this run alone
    (no transport given), or as long as the sandbox behind the transport when the settings
    name no state folder; any other target's are files in the state folder."""
    memory: dict[str, sqlite3.Connection] | None = None
    if settings.is_sandbox and transport is None:
        memory = {}
    elif settings.is_sandbox and settings.state_dir is None:
        memory = _IN_MEMORY.setdefault(getattr(transport, "sandbox", transport), {})
    ledgers = Ledgers(settings, memory=memory, read_only=read_only, clock=clock)
    try:
        yield ledgers
    finally:
        ledgers.close()
