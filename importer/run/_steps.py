"""What a durable run is told, and what it gives back to its steps.

:class:`Steps` is what a run does with its rows, as plain callables (an import's are in
:mod:`importer.run._import`, an undo's in :mod:`importer.run._undo`); the frame,
:class:`importer.run._frame.DurableRun`, calls them in their order. :class:`Book` is what the
step that judges the rows is given: each row's journal entry and a place for the outcomes found
without a request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

from importer.api import Client, RateLimiter
from importer.models import IMPORT_OK, Outcome, Pair, SourceRow, Status
from importer.report import RunSummary
from importer.run._direct import DirectResults
from importer.run._journal import Entry, Identity, Journal
from importer.run._sender import Job, Sender

Rows = tuple[tuple[str, ...], tuple[str, ...], Iterator[SourceRow]]  # notices, header, rows


@dataclass(frozen=True, slots=True)
class Survey:
    """What the first reading found: the rows to process and the locations they write in."""

    rows: int
    locations: frozenset[str]


async def _nothing_to_ask(client: Client, journal: Journal | None) -> None:
    return None


def _as_is(row: SourceRow, outcome: Outcome) -> Outcome:
    return outcome


@dataclass(frozen=True, kw_only=True)
class Steps:
    """What a run does with its rows, as plain callables (the way tenacity takes ``stop`` and
    ``wait``); :class:`DurableRun` does the rest. In the order the frame calls them:"""

    kind: str  # "import", "undo": the journal's and the summary's word
    identity: Identity  # what a resume must find the same (size and sha256 are the frame's)
    result_path: Path  # the result file when no --out is given
    ok: frozenset[Status] = IMPORT_OK  # the statuses of rows that need nothing more
    #: read: open the input (notices, header, rows), each time the frame reads it
    open_rows: Callable[[], tuple[Rows, AbstractContextManager[object]]]
    #: the first reading: check the header (InputError), count the rows, note their locations
    survey: Callable[[tuple[str, ...], Iterator[SourceRow]], Survey]
    #: a dry run that needs its rows only in the pass that judges them: check the header and
    #: say where the run writes, without reading the rows (``jobs`` then does the survey's
    #: checks as it goes). None: ``survey`` reads them first.
    glance: Callable[[tuple[str, ...]], frozenset[str]] | None = None
    #: resolve: ask the API what the run needs before it writes (journal: None when new)
    prepare: Callable[[Client, Journal | None], Awaitable[None]] = _nothing_to_ask
    #: the journal is open: keep in it what a resume must not ask again
    started: Callable[[Journal], None] = lambda journal: None
    #: validate: each row's job to send, or its outcome without a request (``Book.done``)
    jobs: Callable[[Iterator[SourceRow], Book], AsyncIterator[Job]]
    sender: type[Sender] = Sender  # send: a Sender, or one that deletes (undo)
    #: record: an outcome the API confirmed, before the journal has it (the ledger's)
    confirmed: Callable[[Job, Outcome], None] = lambda job, outcome: None
    #: a row the journal does not hold, as the result file shows it
    fill: Callable[[SourceRow, Outcome], Outcome] = _as_is
    #: the summary completed (title, plan, purposes...) once the results are written
    sum_up: Callable[[RunSummary, RateLimiter], RunSummary] = lambda summary, limiter: summary


class Book:
    """What ``Steps.jobs`` is given: each row's journal entry, in step with the rows, and the
    outcomes found without a request."""

    def __init__(
        self,
        journal: Journal,
        *,
        selected: Callable[[int, SourceRow], bool],
        windowed: bool,
        on_row: Callable[[Status], None],
        direct: DirectResults | None = None,
    ) -> None:
        """``selected(seq, row)``: the row is in ``--rows`` / ``--limit`` (``windowed``: some
        rows may not be; else every row is); ``on_row``: a row is done (the progress);
        ``direct``: a dry run's result file, written as it goes."""
        self.journal = journal
        self.selected, self.windowed = selected, windowed
        self._entries = Entries(journal.entries())
        #: The journal holds rows (a resumed run's); else every ``entry()`` is None.
        self.resuming = self._entries.pending
        self._direct = direct
        self._on_row = on_row
        self.resumed = 0  # rows an earlier run settled

    def entry(self, seq: int) -> Entry | None:
        """The journal's entry of row ``seq`` (asked in increasing ``seq``)."""
        return self._entries.at(seq)

    def settled(self, entry: Entry | None) -> bool:
        """True when the journal already has this row's final outcome (a resume skips it)."""
        if entry is None or entry.outcome is None or not entry.final:
            return False
        self.resumed += 1
        self._on_row(entry.outcome.status)
        return True

    def done(self, seq: int, row: SourceRow, outcome: Outcome) -> None:
        """Record an outcome found without a request (cheap to find again: batched)."""
        self.journal.record(seq, row.number, outcome, durable=False)
        if self._direct is not None:
            self._direct.done(seq, row, outcome)
        self._on_row(outcome.status)

    def valid(self, seq: int, row: SourceRow, pair: Pair) -> None:
        """A dry run's plainly valid row, its ids its cells: not journalled (the result file
        written from the journal says so of a row it does not hold, ``Steps.fill``)."""
        if self._direct is not None:
            self._direct.valid(seq, row, pair)
        self._on_row(Status.VALID)


class Entries:
    """Walks the journal's entries in step with the input's rows (both in input order)."""

    def __init__(self, entries: Iterator[Entry]) -> None:
        self._entries = entries
        self._next = next(entries, None)
        self.pending = self._next is not None  # (at first) some entry is still to be met

    def at(self, seq: int) -> Entry | None:
        while self._next is not None and self._next.seq < seq:
            self._next = next(self._entries, None)
        return self._next if self._next is not None and self._next.seq == seq else None
