"""The vocabulary of a run: rows in, issues found, outcomes out.

Small frozen dataclasses passed between the stages (read -> validate -> send -> record).
No third-party types cross a stage boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Status(StrEnum):
    """The status of one input row in the results. Values are stable: scripts read them."""

    VALID = "valid"  # dry run only: the row a real run would send
    CREATED = "created"
    ALREADY_EXISTS = "already_exists"
    DUPLICATE_ROW = "duplicate_row"
    DELETED = "deleted"  # undo: the relation this row created was deleted
    GONE = "gone"  # undo: the relation was already gone
    SKIPPED = "skipped"  # undo: the row created nothing, so nothing is deleted
    WOULD_DELETE = "would_delete"  # undo's dry run: the relation a real undo deletes
    INVALID = "invalid"
    UNRESOLVED = "unresolved"  # a natural key (email, phone, property) matched no record
    AMBIGUOUS = "ambiguous"  # a natural key matched more than one record: never guessed
    FAILED = "failed"
    NOT_SENT = "not_sent"


#: Ends the error of every row whose request may have been written unseen: a re-run (also of
#: the result file, with --only) looks the pair up before sending it again.
IN_DOUBT = "a re-run looks it up first"

#: Statuses that mean "the relation is on the server": a run where every row has one exits 0.
SETTLED_OK = frozenset({Status.CREATED, Status.ALREADY_EXISTS})
#: Statuses of an import's rows that are fine (exit 0): on the server, or sent once in an
#: earlier row.
IMPORT_OK = SETTLED_OK | {Status.DUPLICATE_ROW}
#: Statuses that are final: a resume never sends these rows again.
FINAL = frozenset(
    {
        Status.CREATED,
        Status.ALREADY_EXISTS,
        Status.DUPLICATE_ROW,
        Status.INVALID,
        Status.UNRESOLVED,
        Status.AMBIGUOUS,
        Status.DELETED,
        Status.GONE,
        Status.SKIPPED,
    }
)
#: Error codes of ``failed`` rows that are final too: the API refused the row itself.
FINAL_FAILURES = frozenset({"rejected"})

#: Exit codes of a command (the README's table), and the ``outcome`` word summary.json gives
#: each. 2: nothing was sent (usage, config, input, auth, a lock held by another run).
EXIT_OK, EXIT_PARTIAL, EXIT_NOT_STARTED, EXIT_STOPPED, EXIT_INTERRUPTED, EXIT_BUDGET = range(6)
EXIT_UNWRITTEN = 6  # the run ended, but a result file could not be written: re-run to write it
EXIT_OVER_BUDGET = 7  # a dry run of good rows whose real run does not fit in today's budget
OUTCOMES = {
    EXIT_OK: "complete",
    EXIT_PARTIAL: "partial",
    EXIT_NOT_STARTED: "not_started",
    EXIT_STOPPED: "stopped",
    EXIT_INTERRUPTED: "interrupted",
    EXIT_BUDGET: "budget",
    EXIT_UNWRITTEN: "results_not_written",
    EXIT_OVER_BUDGET: "over_budget",
}
#: Exits after which the same command resumes (summary.json gives the command).
RESUMABLE = frozenset({EXIT_STOPPED, EXIT_INTERRUPTED, EXIT_BUDGET, EXIT_UNWRITTEN})


@dataclass(frozen=True, slots=True)
class Issue:
    """A problem in the data (never an exception): a stable code and a sentence for a person."""

    code: str
    message: str
    column: str | None = None


_NO_NUMERIC: frozenset[int] = frozenset()
#: Sets an attribute past a frozen dataclass's guard: a fast ``__init__`` gives an instance its
#: whole ``__dict__`` in one call (see :class:`SourceRow`).
_set = object.__setattr__


@dataclass(frozen=True, init=False)
class SourceRow:
    """One data row as the user sees it.

    ``number`` is the row number a spreadsheet program shows for it (the header is usually 1).
    ``cells`` are text, stripped of surrounding whitespace, one per header column (padded or cut
    to the header's width; the difference is reported in ``issues``). ``numeric`` holds the
    indexes of cells that the file stored as numbers (XLSX), so an id mangled by Excel can be
    reported instead of used.

    A frozen dataclass like the others, made once per row and pass: its ``__init__`` is written
    by hand to set every field in one call (the generated one sets them one by one, past the
    frozen guard, which cost a second per million rows and pass).
    """

    number: int
    cells: tuple[str, ...]
    issues: tuple[Issue, ...] = ()
    numeric: frozenset[int] = _NO_NUMERIC
    #: From a result file given back (--only): an earlier run may have written this pair.
    in_doubt: bool = False
    #: When that earlier run first tried (wall clock), if its journal says.
    doubt_since: float | None = None
    #: The cells the row really had, when fewer than the header's (a short CSV row).
    present: int | None = None

    def __init__(
        self,
        number: int,
        cells: tuple[str, ...],
        issues: tuple[Issue, ...] = (),
        numeric: frozenset[int] = _NO_NUMERIC,
        in_doubt: bool = False,
        doubt_since: float | None = None,
        present: int | None = None,
    ) -> None:
        _set(
            self,
            "__dict__",
            {
                "number": number,
                "cells": cells,
                "issues": issues,
                "numeric": numeric,
                "in_doubt": in_doubt,
                "doubt_since": doubt_since,
                "present": present,
            },
        )


@dataclass(frozen=True, slots=True)
class Association:
    """The definition of a link type between two object kinds, as the API returns it."""

    id: str
    key: str
    first_object_key: str
    first_object_label: str
    second_object_key: str
    second_object_label: str
    association_type: str = ""


@dataclass(frozen=True, init=False)
class Pair:
    """A relation to create: the record on the association's first side, then the second.
    (Made once per row: its ``__init__`` is :class:`SourceRow`'s kind.)"""

    first_id: str
    second_id: str

    def __init__(self, first_id: str, second_id: str) -> None:
        _set(self, "__dict__", {"first_id": first_id, "second_id": second_id})


@dataclass(frozen=True, init=False)
class Outcome:
    """What became of one row. ``error_code`` is stable; ``error`` is for a person.
    (Made once per row: its ``__init__`` is :class:`SourceRow`'s kind.)"""

    status: Status
    relation_id: str = ""
    error_code: str = ""
    error: str = ""
    http_status: int | None = None
    attempts: int = 0
    #: A request for this row may have written although no success came back: before sending
    #: it again, look the pair up.
    in_doubt: bool = False
    #: The record ids the row resolved to (its own ids, or those its natural keys found).
    first_id: str = ""
    second_id: str = ""

    def __init__(
        self,
        status: Status,
        relation_id: str = "",
        error_code: str = "",
        error: str = "",
        http_status: int | None = None,
        attempts: int = 0,
        in_doubt: bool = False,
        first_id: str = "",
        second_id: str = "",
    ) -> None:
        _set(
            self,
            "__dict__",
            {
                "status": status,
                "relation_id": relation_id,
                "error_code": error_code,
                "error": error,
                "http_status": http_status,
                "attempts": attempts,
                "in_doubt": in_doubt,
                "first_id": first_id,
                "second_id": second_id,
            },
        )


#: The error code of a row left out by ``--limit`` / ``--rows``: ``not_sent``, sent by a later
#: run without them (the journal does not hold it).
OUTSIDE_RANGE = "outside_range"


@dataclass(frozen=True, slots=True)
class RowWindow:
    """The rows a run processes (``--rows 100-250``, ``--limit 5``): row numbers as the user
    sees them, both ends included; ``limit`` the first N data rows of those. The others are
    ``not_sent`` (``outside_range``) in the results, and a later run sends them."""

    first: int | None = None
    last: int | None = None
    limit: int | None = None

    @classmethod
    def parse(cls, rows: str | None = None, limit: int | None = None) -> RowWindow | None:
        """``100-250``, ``100-``, ``-250`` or ``7`` (ValueError with the reason otherwise)."""
        if rows is None and limit is None:
            return None
        first = last = None
        if rows is not None:
            start, dash, end = rows.strip().partition("-")
            start, end = start.strip(), (end.strip() if dash else start.strip())
            if not (start or end) or not all(x.isdigit() for x in (start, end) if x):
                raise ValueError("expected row numbers such as 100-250, 100- or -250")
            first, last = (int(start) if start else None), (int(end) if end else None)
            if first == 0 or last == 0:
                raise ValueError("rows are numbered from 1, as a spreadsheet numbers them")
            if first is not None and last is not None and last < first:
                raise ValueError(f"{rows} ends before it starts: give the first row first")
        if limit is not None and limit < 1:
            raise ValueError("the limit is a number of rows: 1 or more")
        return cls(first, last, limit)

    def contains(self, number: int) -> bool:
        return (self.first is None or number >= self.first) and (
            self.last is None or number <= self.last
        )

    def describe(self) -> str:
        """The options as typed: ``--rows 100-250 --limit 5``."""
        parts = []
        if self.first is not None or self.last is not None:
            ends = (self.first, self.last)
            shown = (
                str(self.first)
                if self.first == self.last
                else "-".join("" if end is None else str(end) for end in ends)
            )
            parts.append(f"--rows {shown}")
        if self.limit is not None:
            parts.append(f"--limit {self.limit}")
        return " ".join(parts)
