"""Questions asked before sending: natural keys to ids, record checks, existing relations.

Between validating and sending, a run may need to know things only the API can say: which
contact has this email, whether a record exists and is of the kind its side expects, which
pairs are linked already. Each distinct question is asked once per run, concurrently, through
the same client (so the same rate limiter and retries) as the creates.

Answers are kept in a small SQLite file beside the results (``relimport-lookups.sqlite``) for
``lookup_cache_hours``: a dry run's look-ups serve the real run that follows it, and a resumed
run asks nothing again. Existing relations are never kept: the run itself changes them.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from importer.api import Client, Retries
from importer.errors import RejectedError
from importer.models import Pair
from importer.validate._rows import EMAIL, PHONE

T = TypeVar("T")
CACHE_NAME = "relimport-lookups.sqlite"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS answers (
    target TEXT NOT NULL, location TEXT NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL,
    ids TEXT NOT NULL, at REAL NOT NULL,
    PRIMARY KEY (target, location, kind, key)
);
"""


@dataclass(frozen=True, slots=True)
class Question:
    """One thing to ask the API. ``kind`` is ``record:<object key>`` (does this record exist
    and is it of that kind?), ``email``, ``phone`` or ``property:<schema key>:<property>``."""

    location: str
    kind: str
    key: str


def record_question(location: str, object_key: str, record_id: str) -> Question:
    return Question(location, f"record:{object_key}", record_id)


def key_question(location: str, kind: str, object_key: str, prop: str, key: str) -> Question:
    """The question for a natural key of a side (see :func:`importer.validate.lookup_kind`)."""
    if kind in (EMAIL, PHONE):
        return Question(location, kind, key)
    return Question(location, f"property:{object_key}:{prop}", key)


class AnswerCache:
    """Answers by question: in memory for the run, in SQLite across runs (``path`` None or
    ``max_age_hours`` 0: memory only). An answer is the tuple of record ids found.

    Only answers that found something are kept across runs: a key not found, or a record
    missing, is asked again by the next run, so that adding the record and re-running works.
    A cache that cannot be read or written costs requests, never the run.
    """

    SAVE_EVERY = 20  # answers, or a second: a crash loses no more than that

    def __init__(self, path: Path | None, target: str, max_age_hours: float) -> None:
        self._memory: dict[Question, tuple[str, ...]] = {}
        self._target = target
        self._since = time.time() - max_age_hours * 3600
        self._db: sqlite3.Connection | None = None
        self._unsaved: list[tuple[Question, tuple[str, ...]]] = []
        self._saved_at = time.monotonic()
        self._path = path if max_age_hours > 0 else None

    def _open(self, create: bool) -> sqlite3.Connection | None:
        """The SQLite file, opened on first need (none is made for a run that asks nothing)."""
        if self._db is None and self._path is not None and (create or self._path.exists()):
            try:
                self._path.parent.mkdir(parents=True, exist_ok=True)
                self._db = sqlite3.connect(self._path, isolation_level=None)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.executescript(_SCHEMA)
            except (OSError, sqlite3.Error):
                self._give_up()
        return self._db

    def _give_up(self) -> None:
        if self._db is not None:
            self._db.close()
        self._path = self._db = None

    def get(self, question: Question) -> tuple[str, ...] | None:
        if question in self._memory:
            return self._memory[question]
        db = self._open(create=False)
        if db is None:
            return None
        try:
            row = db.execute(
                "SELECT ids FROM answers WHERE target = ? AND location = ? AND kind = ? "
                "AND key = ? AND at >= ?",
                (self._target, question.location, question.kind, question.key, self._since),
            ).fetchone()
            ids: tuple[str, ...] | None = tuple(json.loads(row[0])) if row else None
        except (sqlite3.Error, ValueError, TypeError):
            self._give_up()
            return None
        if ids is not None:
            self._memory[question] = ids
        return ids

    def put(self, question: Question, ids: tuple[str, ...]) -> None:
        """An answer; kept across runs when it found something."""
        self._memory[question] = ids
        if ids:
            self._unsaved.append((question, ids))
        if len(self._unsaved) >= self.SAVE_EVERY or time.monotonic() - self._saved_at > 1:
            self.save()

    def save(self) -> None:
        self._saved_at = time.monotonic()
        db = self._open(create=True) if self._unsaved else None
        if db is not None:
            now = time.time()
            try:
                with db:
                    db.executemany(
                        "INSERT OR REPLACE INTO answers VALUES (?, ?, ?, ?, ?, ?)",
                        [
                            (self._target, q.location, q.kind, q.key, json.dumps(ids), now)
                            for q, ids in self._unsaved
                        ],
                    )
            except sqlite3.Error:
                self._give_up()
        self._unsaved.clear()

    def close(self) -> None:
        """Save, and answer from memory only from now on."""
        self.save()
        self._give_up()


class Lookups:
    """Asks the distinct questions of a run, ``concurrency`` at a time; remembers answers."""

    def __init__(
        self, client: Client, retries: Retries, cache: AnswerCache, concurrency: int
    ) -> None:
        self._client = client
        self._retries = retries
        self.cache = cache
        self._concurrency = concurrency
        #: The API's refusal of a question (a 4xx): answered as "nothing found" for this run.
        self.refused: dict[Question, str] = {}
        #: Per (location, purpose), questions answered "nothing": not kept, the next run asks.
        self.unkept: Counter[tuple[str, str]] = Counter()
        #: (location, association id) -> pair -> relation id, for --skip-existing
        self.existing: dict[tuple[str, str], dict[Pair, str]] = {}

    def answer(self, question: Question) -> tuple[str, ...] | None:
        """The ids found for an answered question (None: not asked)."""
        return self.cache.get(question)

    async def ask(
        self,
        questions: Iterable[Question],
        purpose: str,
        begin: Callable[[int], None] = lambda total: None,
        progress: Callable[[int], None] = lambda done: None,
    ) -> None:
        """Ask every question not answered yet (``purpose``: what the plan counts it as);
        ``begin(n)`` with the number to ask, if any, then ``progress(1)`` after each answer."""
        todo = [q for q in dict.fromkeys(questions) if self.cache.get(q) is None]
        if todo:
            begin(len(todo))

        async def one(question: Question) -> None:
            async def call() -> tuple[str, ...]:  # tenacity awaits only coroutine functions
                return await self._call(question)

            try:
                ids = await self._retries(call)
            except RejectedError as error:  # this value, not the run: nothing found, and why
                ids = ()
                self.refused[question] = error.message
            self.cache.put(question, ids)
            if not ids:
                self.unkept[question.location, purpose] += 1
            progress(1)

        try:
            await pool(todo, one, self._concurrency)
        finally:
            self.cache.save()  # what was answered stays answered, whatever stopped the run

    async def _call(self, question: Question) -> tuple[str, ...]:
        """One question, one request (or a few pages): the ids found."""
        client, location, key = self._client, question.location, question.key
        kind, _, rest = question.kind.partition(":")
        if kind == "record":
            return (key,) if await client.record_exists(location, rest, key) else ()
        if kind == EMAIL:
            return tuple(await client.find_contacts(location, email=key))
        if kind == PHONE:
            return tuple(await client.find_contacts(location, phone=key))
        schema, _, prop = rest.rpartition(":")
        return tuple(await client.find_records(location, schema, prop, key))

    async def read_existing(self, location: str, association_id: str, records: set[str]) -> None:
        """Every relation of these records under the association, into :attr:`existing`."""
        found = self.existing.setdefault((location, association_id), {})

        async def one(record_id: str) -> None:
            async def listing() -> list[tuple[Pair, str]]:
                return [
                    item
                    async for item in self._client.relations_of(location, association_id, record_id)
                ]

            for pair, relation_id in await self._retries(listing):
                found[pair] = relation_id

        await pool(sorted(records), one, self._concurrency)


async def pool(items: list[T], work: Callable[[T], Awaitable[None]], size: int) -> None:
    """Run ``work`` on every item, ``size`` at a time; the first error stops the rest and is
    raised as it is (an AuthError stays an AuthError)."""
    queue: asyncio.Queue[T] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)

    async def worker() -> None:
        while not queue.empty():
            await work(queue.get_nowait())

    tasks = [asyncio.create_task(worker()) for _ in range(min(size, len(items)))]
    try:
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
