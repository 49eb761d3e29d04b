"""Where the header is: the row given (--header-row), none (--no-header, columns named by
letter), or found among the first rows when the configured columns are not in the first."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

from importer.errors import InputError
from importer.read._table import quote

#: Rows below the first one looked at for the configured columns when they are not in it.
LOOKAHEAD = 10

_Raw = TypeVar("_Raw")  # a reader's own row (its cells before they are text)


@dataclass(frozen=True)
class HeaderRule:
    """Where the header is: ``row`` (1-based, as a spreadsheet shows it: ``--header-row``),
    none at all (``absent``: ``--no-header``, columns named by letter), or the first row with
    a value, unless ``fits`` says the configured columns are not in it and are in one of the
    next :data:`LOOKAHEAD` rows (a title line above the header): then that row, with a notice.
    """

    row: int | None = None
    absent: bool = False
    fits: Callable[[Sequence[str]], bool] | None = None


def letters(position: int) -> str:
    """A column's letters as a spreadsheet shows them: 1 is A, 27 is AA."""
    text = ""
    while position:
        position, rest = divmod(position - 1, 26)
        text = chr(ord("A") + rest) + text
    return text


def find_header(
    where: str,
    rows: Iterator[tuple[int, _Raw]],
    text: Callable[[_Raw], list[str]],
    rule: HeaderRule,
    empty: str = "the file is empty",
) -> tuple[int, list[str], list[tuple[int, _Raw]], tuple[str, ...]]:
    """The header's row number (0 when there is none), its cells as text, the rows read past
    it (to be read as data, in order) and a notice, as ``rule`` says. ``rows`` are the file's
    (number, raw row) in order; ``text`` gives a raw row's stripped cells."""
    if rule.row is not None:
        return (*_header_at(where, rows, text, rule.row), [], ())
    first: tuple[int, list[str]] | None = None
    after: list[tuple[int, _Raw]] = []
    looked = 0
    for number, raw in rows:
        if first is None:
            cells = text(raw)
            if not any(cells):
                continue
            first = number, cells
            if rule.absent:
                after.append((number, raw))
            elif rule.fits is None or rule.fits(cells):
                return number, cells, [], ()
            continue
        after.append((number, raw))
        cells = text(raw)
        if not any(cells):
            continue
        looked += 1
        if rule.fits is not None and not rule.absent and rule.fits(cells):
            index = len(after)
            notice = (
                f"the columns are in row {number}, not in row {first[0]} (which holds "
                f"{quote(next(c for c in first[1] if c))}): row {number} is read as the header "
                f"and the rows above it are skipped. To say so, give --header-row {number}.",
            )
            return number, cells, after[index:], notice
        if looked >= LOOKAHEAD:
            break
    if first is None:
        raise InputError(f"{where}: {empty}. Put a header row and data in it.")
    if rule.absent:
        width = max((len(_trimmed(text(raw))) for _, raw in after), default=1)
        return 0, [letters(n) for n in range(1, width + 1)], after, ()
    return first[0], first[1], after, ()


def _trimmed(cells: list[str]) -> list[str]:
    width = len(cells)
    while width and not cells[width - 1]:
        width -= 1
    return cells[:width]


def _header_at(
    where: str, rows: Iterable[tuple[int, _Raw]], text: Callable[[_Raw], list[str]], wanted: int
) -> tuple[int, list[str]]:
    """Row ``wanted`` (``--header-row``) as the header: InputError if it is missing or blank."""
    last = 0
    for number, raw in rows:
        last = number
        if number < wanted:
            continue
        cells = text(raw) if number == wanted else []
        if any(cells):
            return number, cells
        break
    if last < wanted:
        raise InputError(
            f"{where}: there is no row {wanted} (--header-row): the file ends at row {last}. "
            "Give the number of the header's row as your spreadsheet program shows it."
        )
    raise InputError(
        f"{where}: row {wanted} (--header-row) is empty. Give the number of the header's row "
        "as your spreadsheet program shows it."
    )
