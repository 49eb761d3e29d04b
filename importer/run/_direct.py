"""A dry run's result file, written in the pass that judges its rows.

Nothing is sent in a dry run, so each row's outcome is known when the pass reaches it and the
input need not be read again to write the results. :class:`DirectResults` keeps the file only
when the pass ends whole (every row fed and written, nothing stopped it); otherwise the run
writes the file from its journal, as after any run (``Book.done`` journals the outcomes either
way), so the result file always has every input row once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from importer.models import Outcome, Pair, SourceRow, Status
from importer.report import ResultWriter


class DirectResults:
    """``feed`` the rows to the steps; they report each row's outcome (``done``, ``valid``)
    while it is the row fed; ``close`` keeps the file or leaves none."""

    def __init__(
        self,
        writer: ResultWriter,
        *,
        selected: Callable[[int, SourceRow], bool],
        fill: Callable[[SourceRow, Outcome], Outcome],
        outside: Outcome,
    ) -> None:
        """``selected``: the row is in ``--rows`` / ``--limit``; ``fill``: a plainly valid
        row as the result file shows it; ``outside``: the outcome of a row that is not."""
        self.writer = writer
        self._selected, self._fill, self._outside = selected, fill, outside
        self._pending: tuple[int, SourceRow] | None = None  # the row the steps are at
        self.whole = False  # every row was fed and written
        self.rows = 0  # the rows fed, once every one was
        self.outside = 0  # rows written as outside --rows / --limit
        try:
            writer.__enter__()
            self._opened, self._broken = True, False
        except OSError:  # said by the writing from the journal, which meets it too
            self._opened, self._broken = False, True

    def feed(self, rows: Iterator[SourceRow], stop: Callable[[], bool]) -> Iterator[SourceRow]:
        """The rows for the steps; a row they leave without an outcome is plainly valid (or
        outside ``--rows`` / ``--limit``), written as the next one is asked for. ``stop``
        (Ctrl-C: nothing is sent, so no sender stops the pass) ends it, unfinished."""
        selected, fill, outside = self._selected, self._fill, self._outside  # not per row
        valid = Outcome(Status.VALID)
        seq = -1
        for seq, row in enumerate(rows):
            if seq % 256 == 0 and stop():
                return
            self._pending = (seq, row)
            yield row
            if self._pending is not None:
                self._pending = None
                if selected(seq, row):
                    self._add(seq, row, fill(row, valid))
                else:
                    self.outside += 1
                    self._add(seq, row, outside)
        self.whole, self.rows = True, seq + 1

    def done(self, seq: int, row: SourceRow, outcome: Outcome) -> None:
        if self._fed(seq):
            self._add(seq, row, outcome)

    def valid(self, seq: int, row: SourceRow, pair: Pair) -> None:
        if self._fed(seq) and not self._broken:
            try:
                self.writer.add_valid(seq, row, pair.first_id, pair.second_id)
            except (OSError, ValueError):
                self._broken = True

    def _fed(self, seq: int) -> bool:
        """Whether row ``seq`` is the one fed (else the file is given up)."""
        if self._pending is None or self._pending[0] != seq:
            self._broken = True
            return False
        self._pending = None
        return True

    def _add(self, seq: int, row: SourceRow, outcome: Outcome) -> None:
        if self._broken:
            return
        try:
            self.writer.add(seq, row, outcome)
        except (OSError, ValueError):
            self._broken = True

    def close(self, kept: bool) -> bool:
        """Put the file in place when it is whole and ``kept`` (the run was not stopped); else
        leave no file. True when the result file is written."""
        whole = kept and self.whole and not self._broken
        if self._opened:
            try:
                if whole:
                    self.writer.__exit__(None, None, None)
                else:
                    self.writer.__exit__(_Discarded, _Discarded(), None)
            except OSError:
                return False
        return whole


class _Discarded(Exception):
    """A dry run's result file left unfinished (written from the journal instead)."""
