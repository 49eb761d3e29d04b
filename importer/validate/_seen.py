"""The pairs a validator has met, each with the first row that had it: in memory up to a limit,
on disk beyond it, so that memory does not grow with the file.

A pair is known by a 64-bit key (see ``RowValidator.settle``). Up to ``limit`` keys live in a
dict. When it is full, its keys move to a private temporary SQLite database (SQLite removes
its file from the folder as soon as it creates it, so nothing is left behind, even by a
killed process), sorted and cut into :data:`PARTITIONS` blobs by the key's top bits, one row
per partition and move; and into a Bloom filter of :data:`BLOOM_BITS` bits, which tells in
memory that almost every new key was never moved. Only a key the filter cannot rule out (a
duplicate, or about one new key in 130 at a million rows) costs a query and a search of
one partition's blobs, both in C. The answers are the same as with every key in memory.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable

__all__ = ["LIMIT", "SeenPairs"]

#: Keys held in memory before they move to disk (about 5 MB of dict and integers).
LIMIT = 50_000
#: Bits of the Bloom filter (16 MiB), one per key (one probe costs half of two, in Python):
#: with a million keys on disk, about 1 new key in 130 is looked up for nothing; with ten
#: million, 1 in 14.
BLOOM_BITS = 1 << 27
_PART_BITS = 12
PARTITIONS = 1 << _PART_BITS
_BLOOM_MASK = BLOOM_BITS - 1
_PART_SHIFT = 64 - _PART_BITS  # a partition: the key's top bits
_SIGN = 1 << 63
_SCHEMA = "CREATE TABLE moved (part INTEGER NOT NULL, keys BLOB NOT NULL, rows BLOB NOT NULL)"


class SeenPairs:
    """``first(key, number)``: the row that had the pair ``key`` first (``number`` itself when
    the key is new, and it is remembered with it)."""

    def __init__(
        self, limit: int = LIMIT, database: Callable[[], sqlite3.Connection] | None = None
    ) -> None:
        """``database``: the connection the keys move to (a private temporary file)."""
        if limit < 1:
            raise ValueError("the limit is a number of keys: 1 or more")
        self._limit = limit
        self._connect = database or _temporary
        self._recent: dict[int, int] = {}
        self._bloom: bytearray | None = None
        self._db: sqlite3.Connection | None = None

    def first(self, key: int, number: int) -> int:
        recent = self._recent
        earlier = recent.get(key)
        if earlier is not None:
            return earlier
        bloom = self._bloom
        if bloom is not None:  # some keys are on disk: is this one of them?
            bit = key & _BLOOM_MASK
            if bloom[bit >> 3] >> (bit & 7) & 1:
                found = self._find(key)
                if found is not None:
                    return found
        recent[key] = number
        if len(recent) >= self._limit:
            self._move()
        return number

    def _find(self, key: int) -> int | None:
        assert self._db is not None
        needle = key.to_bytes(8, sys.byteorder, signed=True)
        query = "SELECT keys, rows FROM moved WHERE part = ?"
        for keys, rows in self._db.execute(query, (_part(key),)):
            at = keys.find(needle)
            while at % 8 and at >= 0:  # a match across two keys: look further
                at = keys.find(needle, at + 1)
            if at >= 0:
                return int.from_bytes(rows[at : at + 8], sys.byteorder, signed=True)
        return None

    def _move(self) -> None:
        """Move the keys in memory to disk; if the temporary folder cannot take them (full,
        not writable: see ``SQLITE_TMPDIR``), keep every key in memory from now on: the
        answers stay exact, only the memory grows."""
        try:
            self._spill()
        except sqlite3.Error:
            if self._db is not None and self._db.in_transaction:
                self._db.execute("ROLLBACK")
            self._limit = sys.maxsize

    def _spill(self) -> None:
        """Sorted, so that each partition (the top bits of the key) is a slice: one blob of
        keys and one of rows per partition. numpy does it (sorting, the Bloom filter's bits):
        a loop in Python over every key cost a second per million rows."""
        import numpy as np  # here: a run of fewer pairs than the limit never needs it

        if self._db is None:
            self._db = self._connect()
            self._db.execute("PRAGMA journal_mode=OFF")
            self._db.execute("PRAGMA synchronous=OFF")
            self._db.execute(_SCHEMA)
            self._db.execute("CREATE INDEX moved_part ON moved (part)")
            self._bloom = bytearray(BLOOM_BITS // 8)
        assert self._bloom is not None
        recent = self._recent
        keys = np.fromiter(recent, dtype=np.int64, count=len(recent))
        rows = np.fromiter(recent.values(), dtype=np.int64, count=len(recent))
        order = np.argsort(keys)
        keys, rows = keys[order], rows[order]
        bits = keys & _BLOOM_MASK  # as first() reads them: the key's low bits
        bloom = np.frombuffer(self._bloom, dtype=np.uint8)  # a view: it writes the filter
        np.bitwise_or.at(bloom, bits >> 3, (1 << (bits & 7)).astype(np.uint8))
        # the partition of each key (its top bits as an unsigned number): sorted as the keys
        parts = (keys.view(np.uint64) ^ np.uint64(_SIGN)) >> np.uint64(_PART_SHIFT)
        bounds = np.searchsorted(parts, np.arange(PARTITIONS + 1, dtype=np.uint64))
        slices = [
            (
                part,
                keys[bounds[part] : bounds[part + 1]].tobytes(),
                rows[bounds[part] : bounds[part + 1]].tobytes(),
            )
            for part in np.flatnonzero(np.diff(bounds)).tolist()
        ]
        self._db.execute("BEGIN")
        self._db.executemany("INSERT INTO moved VALUES (?, ?, ?)", slices)
        self._db.execute("COMMIT")
        self._recent = {}


def _temporary() -> sqlite3.Connection:
    return sqlite3.connect("", isolation_level=None)  # "": a private temporary file


def _part(key: int) -> int:
    """A key's partition: its top bits (of the key as an unsigned number)."""
    return (key + _SIGN) >> _PART_SHIFT
