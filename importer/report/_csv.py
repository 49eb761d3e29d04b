"""The result CSV: every input row exactly once, in input order, formula-safe, written atomically.

The file is rendered from the journal in input order (:mod:`importer.run`). It is written
under a temporary name beside the target and renamed into place at the end: a crash never
leaves a half-written result under the final name.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO

from importer.errors import ConfigError, InputError
from importer.models import IN_DOUBT, Outcome, SourceRow, Status

RESULT_COLUMNS = (
    "row",
    "status",
    "relation_id",
    "first_id",
    "second_id",
    "error_code",
    "error",
    "http_status",
    "attempts",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_CHARACTERS = frozenset(_FORMULA_START)
#: In a row's cells joined by commas, each after one: a cell that may need a quote (its
#: start, after apostrophes, is a formula character). Almost no row has one, and one search
#: of the whole row (the regex starts with a literal: it is found by a fast scan) costs less
#: than a look at each cell.
_RISKY = re.compile(r",'*[=+\-@\t\r]")
_VALID = str(Status.VALID)


def _writable_as_is(text: str, cells: int) -> bool:
    """Whether a line of ``cells`` cells, each after a comma (``text``), can be written as it
    is: no cell to neutralise, none that csv would quote."""
    return (
        text.count(",") == cells
        and '"' not in text
        and "\r" not in text
        and "\n" not in text
        and "\0" not in text
        and _RISKY.search(text) is None
    )


def _needs_quote(cell: str) -> bool:
    """A formula character first, or apostrophes before one (so that the quote added can be
    told from one the user wrote, and :func:`_restore` gives back exactly the cell)."""
    stripped = cell.lstrip("'")
    return bool(stripped) and stripped[0] in _FORMULA_CHARACTERS


def neutralise(cell: str) -> str:
    """Make a cell inert in Excel and LibreOffice: a leading formula character gets a quote."""
    if not cell or (cell[0] not in _FORMULA_CHARACTERS and cell[0] != "'"):
        return cell  # the fast path: almost every cell
    return "'" + cell if _needs_quote(cell) else cell


#: The endings relimport gives its result files (numbered when the name was taken).
_OWN_ENDING = re.compile(r"-(?:results|dry-run|undo|undo-dry-run)(?:-\d+)?$")


def result_name(input_path: Path, ending: str) -> Path:
    """``results/<input>-<ending>.csv``; a result file given back (``x-results-2.csv``) is
    named after the input it came from (``x-<ending>.csv``), never ``x-results-2-results``."""
    stem = _OWN_ENDING.sub("", input_path.stem) or input_path.stem
    return Path("results") / f"{stem}-{ending}.csv"


def result_header(input_header: tuple[str, ...]) -> tuple[str, ...]:
    """Input columns, then the result columns (prefixed ``result_`` where a name is taken)."""
    taken = set(input_header)
    added = []
    for name in RESULT_COLUMNS:
        while name in taken:  # "status" taken: "result_status"; that taken too: once more
            name = f"result_{name}"
        taken.add(name)
        added.append(name)
    return (*input_header, *added)


def write_json(path: Path, data: Mapping[str, object]) -> None:
    """A JSON file beside the results (summary, plan), written whole or not at all."""
    temporary = path.with_name(f".{path.name}.partial")
    try:
        temporary.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise


def unwritten_message(path: Path, error: OSError, *, dry_run: bool = False) -> str:
    """What to do about a file beside the results that could not be written."""
    what = (
        f"{path}: could not be written ({error.strerror or error}). If it is open (in Excel, "
        "for example), close it; if it is read-only, make it writable; "
    )
    if dry_run:  # its journal was a temporary one: nothing to keep, nothing sent
        return (
            what + "if the disk is full, make room; then run the same command again (a dry run "
            "sends nothing)."
        )
    return what + (
        "then run the same command again: nothing is lost, the journal keeps every outcome "
        "and no row is sent again."
    )


def check_writable(out: Path) -> None:
    """Fail before the first request if the result file cannot be written where asked."""
    if out.is_dir():
        raise ConfigError(
            f"{out}: this is a folder; give --out a file name, e.g. {out}/results.csv"
        )
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        probe = out.with_name(f".{out.name}.probe")
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise ConfigError(
            f"{out}: the result file cannot be written there ({error.strerror or error}). "
            "Choose another --out, or run from a folder you can write to."
        ) from None


class ResultWriter:
    """Writes rows in input order. Use as a context manager.

    ``add(seq, row, outcome)`` with ``seq`` = 0, 1, 2, ... (input order; each exactly once).
    On a clean exit the file is renamed into place; on an exception the temporary file is
    removed and no result file appears (the journal still holds every outcome).
    """

    def __init__(self, path: Path, input_header: tuple[str, ...]) -> None:
        self.path = path
        self._counts: dict[str, int] = {}  # by status value: an enum member hashes slowly
        self._valid = 0  # lines add_valid wrote in one piece (the others are in _counts)
        self._width = len(input_header)
        self._header = result_header(input_header)
        # this process's own: two dry runs of one input (they take no lock) never share it
        self._temporary = path.with_name(f".{path.name}.{os.getpid()}.partial")
        self._file: IO[str] | None = None
        self._next = 0

    def __enter__(self) -> ResultWriter:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # UTF-8 with a byte-order mark (Excel reads it as UTF-8): the mark written once, as
        # "utf-8-sig" would, and the rows through the C codec ("utf-8-sig" is Python's)
        self._file = open(self._temporary, "w", encoding="utf-8", newline="")
        self._file.write("\ufeff")
        self._csv = csv.writer(self._file)
        self._write = self._csv.writerow
        self._line = self._file.write
        self._csv.writerow([neutralise(name) for name in self._header])
        return self

    @property
    def counts(self) -> Counter[Status]:
        """The rows written, by status."""
        counts = Counter({Status(value): n for value, n in self._counts.items()})
        if self._valid:  # (add_valid's count)
            counts[Status.VALID] += self._valid
        return counts

    @property
    def written(self) -> int:
        return self._next

    def add(self, seq: int, row: SourceRow, outcome: Outcome) -> None:
        """Write the row at input position ``seq`` (0, 1, 2, ...: each once, in order)."""
        http = outcome.http_status
        self._put(
            seq,
            row,
            str(outcome.status),  # its value (a StrEnum), without enum's slow .value
            outcome.relation_id,
            outcome.first_id,
            outcome.second_id,
            outcome.error_code,
            outcome.error,
            "" if http is None else str(http),
            str(outcome.attempts),
        )

    def add_valid(self, seq: int, row: SourceRow, first_id: str, second_id: str) -> None:
        """Write a row a dry run found plainly valid, without an :class:`Outcome` (a million
        rows would make a million of them): most lines of a large dry run, so its line is
        made in one piece when nothing in it needs care."""
        cells = row.cells
        if seq == self._next and len(cells) == self._width:
            text = f",{','.join(cells)},{row.number},{_VALID},,{first_id},{second_id},,,,0"
            if _writable_as_is(text, self._width + 9):
                self._next = seq + 1
                self._valid += 1
                self._line(text[1:] + "\r\n")  # as csv.writer writes cells without quotes
                return
        self._put(seq, row, _VALID, "", first_id, second_id, "", "", "", "0")

    def _put(self, seq: int, row: SourceRow, status: str, *fields: str) -> None:
        """The line of ``row`` with its ``status`` and relimport's other ``fields``."""
        if seq != self._next:
            raise ValueError(f"row sequence {seq} out of order (expected {self._next})")
        self._next = seq + 1
        counts = self._counts
        counts[status] = counts.get(status, 0) + 1
        cells = row.cells
        if len(cells) != self._width:
            cells = (*cells[: self._width], *([""] * (self._width - len(cells))))
        line = (*cells, str(row.number), status, *fields)
        text = "," + ",".join(line)
        if _writable_as_is(text, len(line)):
            self._line(text[1:] + "\r\n")  # as csv.writer writes cells without quotes
            return
        at = len(cells) + 2  # the relation id's column, then the ids, the code, the error
        cleaned = (  # an API's relation id or message may hold anything
            *line[:at],
            line[at].replace("\0", ""),
            *line[at + 1 : at + 3],
            *(cell.replace("\0", "") for cell in line[at + 3 : at + 5]),
            *line[at + 5 :],
        )
        self._write([neutralise(cell) for cell in cleaned])

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._file is not None
        self._file.close()
        try:
            if kind is None:
                os.replace(self._temporary, self.path)
        finally:  # written in place, or not at all: no half file left beside the results
            self._temporary.unlink(missing_ok=True)


def result_columns(header: tuple[str, ...], path: Path, purpose: str) -> dict[str, int]:
    """Where relimport's own columns are in one of its result files (InputError if none)."""
    width = len(header) - len(RESULT_COLUMNS)
    if width < 0 or header[width:] != result_header(header[:width])[width:]:
        raise InputError(
            f"{path}: {purpose} needs a result file of relimport as input (its last columns "
            f"are {', '.join(RESULT_COLUMNS)}), and this file does not end with them."
        )
    return {name: width + index for index, name in enumerate(RESULT_COLUMNS)}


def redo_rows(
    header: tuple[str, ...],
    rows: Iterator[SourceRow],
    only: frozenset[Status],
    path: Path,
    doubt_since: Mapping[int, float] | None = None,
) -> tuple[tuple[str, ...], Iterator[SourceRow]]:
    """A result file given back as input: its input columns, and the rows whose status is in
    ``only``, each with the row number it had in the original input."""
    at = result_columns(header, path, "--only")
    width, row_at, status_at = at["row"], at["row"], at["status"]
    wanted = {status.value for status in only}

    def selected() -> Iterator[SourceRow]:
        for index, row in enumerate(rows):
            if row.cells[status_at] not in wanted:
                continue
            number = row.cells[row_at]
            if not number.isdigit():
                raise InputError(
                    f"{path}: row {row.number}, column '{header[row_at]}': expected the "
                    f"original row number, found {number!r}. Give back the result file as "
                    "relimport wrote it."
                )
            cells = tuple(_restore(cell) for cell in row.cells[:width])
            numeric = frozenset(i for i in row.numeric if i < width)
            doubt = IN_DOUBT in row.cells[at["error"]]
            since = (doubt_since or {}).get(index)  # the earlier run's journal, by its seq
            yield SourceRow(int(number), cells, row.issues, numeric, doubt, since)

    return tuple(_restore(name) for name in header[:width]), selected()


def _restore(cell: str) -> str:
    """Undo :func:`neutralise`, so a re-run sends the value the user wrote."""
    if cell.startswith("'") and _needs_quote(cell[1:]):
        return cell[1:]
    return cell
