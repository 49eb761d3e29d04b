"""The durable state of a run: a SQLite journal (WAL) beside the result file.

It holds the input's identity (so a resume is refused if the file changed) and, per input row
(by its position ``seq``), the outcome as soon as it is known. Before a create is sent, an
*intent* is committed: a row with an intent and no final outcome was perhaps written by a
process that died, and is looked up before it is sent again.

**Group commit.** Writes are grouped the way databases do it, one transaction for many rows:

- *Intents* of the next group of jobs are committed together by :meth:`Journal.intend_all`
  before those jobs are queued, with ``synchronous=FULL``: the WAL is fsynced before it
  returns, so an intent is on disk (it survives ``kill -9`` and a power cut) before its create
  can leave. The fsync covers the whole WAL, so every outcome committed before it is on disk
  too. A process killed with intents of jobs it never sent leaves those rows in doubt: each
  costs one look-up on resume, never a second create.
- *Outcomes of requests* (``record(durable=True)``) are committed in groups with
  ``synchronous=NORMAL`` (no fsync): the outcomes that arrive together, in one turn of the
  event loop, are committed together as soon as the loop has run what was ready (at most
  :data:`OUTCOME_GROUP` of them; without an event loop, at once), and whenever intents are. A
  committed group survives ``kill -9`` (it is in the WAL, in the kernel's hands), so a kill
  loses an outcome only in the instant between its answer and that commit; a power cut may
  lose the groups since the last fsync. Either way a lost outcome leaves its row with its
  durable intent: the row is in doubt, looked up on resume, and judged by what the API holds.
  Nothing is created twice and nothing is lost; at worst a few look-ups.
- *Outcomes found without a request* (invalid rows, duplicates: ``durable=False``) wait for
  :data:`BATCH` of them, or the next commit: losing them costs a re-validation.
- :meth:`Journal.sync` commits what is pending and fsyncs (``synchronous=FULL``).
  :meth:`Journal.entries` and :meth:`Journal.close` call it: the result file and the summary
  are written from :meth:`Journal.entries`, so an outcome the results claim is on disk first
  and survives a power cut.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from importer.errors import InputError
from importer.models import FINAL, FINAL_FAILURES, Association, Outcome, Status

FORMAT = "relimport-journal/3"
OUTCOME_GROUP = 32  # outcomes of requests per commit, at most
BATCH = 500  # outcomes found without a request per commit, at most


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rows (
    seq INTEGER PRIMARY KEY,
    number INTEGER NOT NULL,
    status TEXT,
    relation_id TEXT NOT NULL DEFAULT '',
    error_code TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT '',
    http_status INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    intent INTEGER NOT NULL DEFAULT 0,
    intent_at REAL,
    first_id TEXT NOT NULL DEFAULT '',
    second_id TEXT NOT NULL DEFAULT ''
);
"""


@dataclass(frozen=True)
class Identity:
    """What makes a run the same run: the input's content and how it is read and sent."""

    kind: str  # "import" or "undo"
    path: str
    size: int
    sha256: str
    sheet: str
    columns: str
    association: str
    location_id: str
    selection: str  # the statuses of --only, when a result file is given back
    target: str  # the API's base URL: a journal says nothing of another server's state


def file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def is_final(outcome: Outcome) -> bool:
    """A row a resume does not send again. A refusal is final unless a request for the row
    may have been written unseen (the refusal may then be an echo of our own write)."""
    if outcome.status in FINAL:
        return True
    failed = outcome.status is Status.FAILED and outcome.error_code in FINAL_FAILURES
    return failed and not outcome.in_doubt


@dataclass(frozen=True, slots=True)
class Entry:
    """What the journal knows of one row."""

    seq: int
    outcome: Outcome | None
    intent: bool
    intent_at: float | None = None  # wall-clock time of the first intent

    @property
    def final(self) -> bool:
        """The journal has this row's final outcome: a resume does not touch it again."""
        return self.outcome is not None and is_final(self.outcome)


def journal_path(result_path: Path) -> Path:
    return result_path.with_name(result_path.name + ".journal")


def doubt_times(path: Path) -> dict[int, float]:
    """seq -> time of the first intent, for the rows a journal holds in doubt ({} if none)."""
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            query = "SELECT seq, intent_at FROM rows WHERE intent = 1 AND intent_at IS NOT NULL"
            return dict(connection.execute(query))
        finally:
            connection.close()
    except sqlite3.Error:
        return {}


def outcomes(path: Path) -> Iterator[tuple[int, Outcome | None, bool]]:
    """(row number, outcome, intent) of every row a journal knows, whatever run it was
    (for the results of a run replaced by --restart)."""
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        cursor = connection.execute(f"SELECT number, intent, {_OUTCOME} FROM rows ORDER BY seq")
        for number, intent, *fields in cursor:
            yield number, _outcome(fields, intent), bool(intent)
    finally:
        connection.close()


_UPSERT = (
    "INSERT INTO rows (seq, number, status, relation_id, error_code, error, "
    "http_status, attempts, intent, first_id, second_id) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT(seq) DO UPDATE "
    "SET status = excluded.status, relation_id = excluded.relation_id, "
    "error_code = excluded.error_code, error = excluded.error, "
    "http_status = excluded.http_status, attempts = attempts + excluded.attempts, "
    "intent = excluded.intent, first_id = excluded.first_id, "
    "second_id = excluded.second_id"
)


def _values(seq: int, number: int, outcome: Outcome) -> tuple[object, ...]:
    return (
        seq,
        number,
        outcome.status.value,
        outcome.relation_id,
        outcome.error_code,
        outcome.error,
        outcome.http_status,
        outcome.attempts,
        int(outcome.in_doubt),
        outcome.first_id,
        outcome.second_id,
    )


_OUTCOME = "status, relation_id, error_code, error, http_status, attempts, first_id, second_id"


def _outcome(fields: list[Any], intent: int) -> Outcome | None:
    """The outcome stored in a row's :data:`_OUTCOME` columns (None: not known yet)."""
    status, relation_id, code, error, http_status, attempts, first_id, second_id = fields
    if status is None:
        return None
    return Outcome(
        Status(status),
        relation_id,
        code,
        error,
        http_status,
        attempts,
        bool(intent),
        first_id=first_id,
        second_id=second_id,
    )


#: How each part of a run's identity is named for a person (size and sha256: the content).
_IDENTITY_WORDS = {
    "kind": "the kind of run",
    "path": "the input file",
    "sheet": "the sheet",
    "columns": "the columns",
    "association": "the association",
    "location_id": "the location",
    "selection": "the --only statuses",
    "target": "the target",
}


def _changes(meta: dict[str, str], identity: dict[str, object]) -> list[str]:
    """What differs between the run a journal was started for and this one, for a person."""
    changes = []
    if meta.get("sha256") != identity["sha256"]:
        size, now = meta.get("size"), str(identity["size"])
        changes.append(
            "the input file changed since (same size, other content)"
            if size == now
            else f"the input file changed since (it had {size} bytes, now {now})"
        )
    for key, words in _IDENTITY_WORDS.items():
        was, now = meta.get(key) or "", str(identity[key])
        if was != now:
            changes.append(f"{words} was {_shown(was)}, now {_shown(now)}")
    return changes


def _shown(value: str) -> str:
    return f"'{value}'" if value else "none"


def peek(path: Path) -> dict[str, str] | None:
    """The identity a journal was started with, read without changing it (None if unreadable)."""
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            return dict(connection.execute("SELECT key, value FROM meta"))
        finally:
            connection.close()
    except sqlite3.Error:
        return None


class Journal:
    """One run's journal. Use :meth:`open`; close with :meth:`close` (or as a context manager)."""

    def __init__(self, connection: sqlite3.Connection, path: Path) -> None:
        self._db = connection
        self.path = path
        self._pending = 0  # outcomes found without a request, not committed yet
        self._costly = 0  # outcomes of requests, not committed yet
        self._timer: asyncio.Handle | None = None
        self._unsynced = False  # committed with synchronous=NORMAL since the last fsync

    @classmethod
    def open(cls, path: Path, identity: Identity) -> Journal:
        """Open (resume) or create the journal at ``path`` for this identity.

        Raises InputError when the journal belongs to another input or format.
        """
        fresh = not path.exists()
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            connection = sqlite3.connect(path, isolation_level=None)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")  # FULL only where it must be
            if fresh:
                connection.executescript(_SCHEMA)
            tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
        except sqlite3.DatabaseError as error:
            raise InputError(
                f"{path}: this is not a relimport journal ({error}). Move it away, or choose "
                "another --out."
            ) from None
        journal = cls(connection, path)
        if fresh:
            journal._write_meta({"format": FORMAT, **asdict(identity)})
            return journal
        if not {"meta", "rows"} <= tables:
            connection.close()
            raise InputError(f"{path}: this is not a relimport journal. Move it away.")
        meta = dict(connection.execute("SELECT key, value FROM meta"))
        if meta.get("format") != FORMAT:
            connection.close()
            raise InputError(
                f"{path}: journal format {meta.get('format')!r} is not {FORMAT!r} (written by "
                "another version of relimport). Finish it with that version, or start over "
                "with --restart."
            )
        changes = _changes(meta, asdict(identity))
        if changes:
            connection.close()
            raise InputError(
                f"{path}: this result belongs to another run: " + "; ".join(changes) + ". "
                "Re-run with --restart to start over (the earlier result is kept beside it), "
                "or choose another --out."
            )
        return journal

    def _write_meta(self, values: dict[str, object]) -> None:
        self.commit()
        self._durably(
            "INSERT OR REPLACE INTO meta VALUES (?, ?)", [(k, str(v)) for k, v in values.items()]
        )

    def association(self) -> Association | None:
        """The association definition fetched by the first run, if any."""
        row = self._db.execute("SELECT value FROM meta WHERE key = 'association_json'").fetchone()
        return Association(**json.loads(row[0])) if row else None

    def keep_association(self, association: Association) -> None:
        self._write_meta({"association_json": json.dumps(asdict(association))})

    def entries(self) -> Iterator[Entry]:
        """Every row the journal knows, in input order (a cursor: memory stays flat). What it
        yields is on disk (:meth:`sync`): results written from it claim nothing a power cut
        could take back."""
        self.sync()
        cursor = self._db.execute(
            f"SELECT seq, intent, intent_at, {_OUTCOME} FROM rows ORDER BY seq"
        )
        for seq, intent, at, *fields in cursor:
            yield Entry(seq, _outcome(fields, intent), bool(intent), at)

    def intend(self, seq: int, number: int) -> None:
        """Durably note that a write for this row is about to be sent."""
        self.intend_all([(seq, number)])

    def intend_all(self, rows: Iterable[tuple[int, int]]) -> None:
        """Durably note, in one transaction and one fsync, that writes for these rows (seq,
        number) may be sent from now on; outcomes pending are committed first."""
        at = time.time()
        self.commit()
        self._durably(
            "INSERT INTO rows (seq, number, intent, intent_at) VALUES (?, ?, 1, ?) "
            "ON CONFLICT(seq) DO UPDATE SET intent = 1, "
            "intent_at = coalesce(intent_at, excluded.intent_at)",
            [(seq, number, at) for seq, number in rows],
        )

    def _durably(self, sql: str, parameters: list[tuple[object, ...]]) -> None:
        """One transaction committed with synchronous=FULL: on disk when this returns, with
        every commit before it (the fsync covers the whole WAL)."""
        self._db.execute("PRAGMA synchronous=FULL")  # takes effect outside a transaction only
        try:
            self._db.execute("BEGIN")
            self._db.executemany(sql, parameters)
            self._db.execute("COMMIT")
        finally:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._unsynced = False

    def record(self, seq: int, number: int, outcome: Outcome, *, durable: bool = True) -> None:
        """Store a row's outcome: in the next group commit (``durable``: an outcome of a
        request), or in the next batch (``durable=False``: cheap to find again)."""
        if not self._db.in_transaction:
            self._db.execute("BEGIN")
        self._db.execute(_UPSERT, _values(seq, number, outcome))
        if durable:
            self._costly += 1
            if self._costly >= OUTCOME_GROUP:
                self.commit()
            elif self._timer is None:
                self._commit_soon()
        else:
            self._pending += 1
            if self._pending >= BATCH:
                self.commit()

    def _commit_soon(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop to wake us: commit now
            self.commit()
            return
        self._timer = loop.call_soon(self.commit)  # once the loop has run what is ready

    def commit(self) -> None:
        """Commit what is pending (synchronous=NORMAL: it survives kill -9, not a power cut)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._db.in_transaction:
            self._db.execute("COMMIT")
            self._unsynced = True
        self._pending = self._costly = 0

    def sync(self) -> None:
        """Commit what is pending and fsync: everything recorded so far survives a power cut."""
        self.commit()
        if self._unsynced:
            self._durably("INSERT OR REPLACE INTO meta VALUES (?, ?)", [("synced_at", time.time())])

    def flush(self) -> None:
        """What :meth:`sync` does: everything recorded so far on disk."""
        self.sync()

    def close(self) -> None:
        self.sync()
        self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
