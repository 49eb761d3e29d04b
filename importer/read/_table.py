"""A table read from a file (header and rows), and what every reader shares to build one."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from importer.errors import InputError
from importer.models import SourceRow

#: Stripped from both ends of every cell: what ``str.isspace`` calls whitespace (including the
#: non-breaking space U+00A0), plus the byte-order mark and the zero-width space that copy and
#: paste leave behind. A test checks the first part against ``str.isspace``.
BLANK = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
    "\ufeff\u200b"
)


@dataclass(frozen=True)
class Table:
    """An open input file: what was found at the top, and the data rows still to come.

    ``header_row`` and every ``SourceRow.number`` are the row numbers a spreadsheet program
    shows. ``encoding`` and ``delimiter`` are set for CSV only, ``sheet`` for Excel only.
    ``notices`` are warnings for the user that do not stop the run (say, a cp1252 fallback).
    ``rows`` can be iterated once, and only inside the ``with open_table(...)`` block.
    """

    path: Path
    kind: str
    header: tuple[str, ...]
    header_row: int
    encoding: str | None
    delimiter: str | None
    sheet: str | None
    notices: tuple[str, ...]
    rows: Iterator[SourceRow]
    #: A title used by several columns -> their 1-based positions (each but the first is
    #: renamed ``title_2``...): only a column the run needs may not be one of them.
    duplicates: Mapping[str, tuple[int, ...]] = field(default_factory=dict)


def make_header(
    path: Path, cells: Sequence[str], row: int, label: Callable[[int], str]
) -> tuple[tuple[str, ...], tuple[str, ...], dict[str, tuple[int, ...]]]:
    """Return the header's names, notices and duplicated titles from its stripped cells.

    Trailing empty cells are dropped. An empty cell between titles is named ``column N`` (its
    1-based position) with a notice: such a column usually holds nothing the import needs, and
    the run should not stop for it; if the mapping does need it, the missing name is reported
    there. A title used again is numbered as csvkit does (``Name_2``), with a notice; the run
    stops only if it needs that column (either could be the one meant: see ``duplicates``).
    ``label(n)`` names column ``n`` for a person ("column 3", or "column C" for Excel).
    """
    width = len(cells)
    while not cells[width - 1]:
        width -= 1
    names: list[str] = []
    untitled: list[int] = []
    positions: dict[str, list[int]] = {}
    for position, cell in enumerate(cells[:width], 1):
        name = cell or f"column {position}"
        if not cell:
            untitled.append(position)
        positions.setdefault(name, []).append(position)
        names.append(name)
    duplicates = {name: tuple(at) for name, at in positions.items() if len(at) > 1}
    taken = set(names)
    for name, at in duplicates.items():
        for count, position in enumerate(at[1:], 2):
            while f"{name}_{count}" in taken:
                count += 1
            names[position - 1] = f"{name}_{count}"
            taken.add(names[position - 1])
    notices = _untitled_notices(path, row, untitled, label)
    for name, at in duplicates.items():
        shown = " and ".join(label(position) for position in at)
        renamed = ", ".join(f"'{names[position - 1]}'" for position in at[1:])
        notices += (
            f"{path.name}: {len(at)} columns of the header (row {row}) are called {name!r} "
            f"({shown}); the later ones are called {renamed}.",
        )
    return tuple(names), notices, duplicates


def _untitled_notices(
    path: Path, row: int, untitled: list[int], label: Callable[[int], str]
) -> tuple[str, ...]:
    """One notice for the columns without a title (a stray cell far right can make many)."""
    if not untitled:
        return ()
    if len(untitled) == 1:
        position = untitled[0]
        return (
            f"{path.name}: {label(position)} has no title in the header (row {row}); "
            f"it is called 'column {position}'.",
        )
    shown = ", ".join(label(position) for position in untitled[:5])
    more = f" and {len(untitled) - 5} more" if len(untitled) > 5 else ""
    return (
        f"{path.name}: {len(untitled)} columns have no title in the header (row {row}): "
        f"{shown}{more}; each is called 'column N' after its position (1 is the first).",
    )


def quote(text: str, limit: int = 40) -> str:
    """Quote a cell's text for a message, shortened to ``limit`` characters."""
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


def pick_sheet(
    path: Path, titles: Sequence[str], name: str | None, first: str | None = None
) -> str:
    """The sheet called ``name`` (exactly, else ignoring case as Excel does), or the first
    worksheet (``first`` when the first sheet of the book is not one, e.g. a chart)."""
    if name is None:
        found = [first] if first is not None else list(titles[:1])
    else:
        found = [t for t in titles if t == name] or [
            t for t in titles if t.casefold() == name.casefold()
        ]
    if not found:
        names = ", ".join(repr(title) for title in titles)
        what = "no worksheet" if name is None else f"no sheet called {name!r}"
        listing = f" Its sheets are: {names}." if titles else ""
        raise InputError(f"{path.name} has {what}.{listing}")
    return found[0]
