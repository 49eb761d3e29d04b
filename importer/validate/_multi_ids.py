"""Cells that hold several ids (``a;b``, as HubSpot and other CRMs export them): with
``split`` set (``--split ';'``), one row per pair, each keeping its row number.

A row whose first cell holds ``a;b`` and second cell ``t`` becomes two rows, ``(a, t)`` and
``(b, t)``, both numbered as the input row; when both cells hold several ids, every id of the
first is paired with every id of the second. Each row of the result file then holds one id
per cell, so a re-run of its failures (``--only``) sends exactly the pairs that failed. Parts
are stripped; empty parts (``a;;b``, a trailing ``;``) are dropped, and a cell with no part
left stays as it is (blank: the validator says so).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from itertools import product

from importer.models import SourceRow

__all__ = ["split_ids"]


def split_ids(
    rows: Iterator[SourceRow], columns: Callable[[], tuple[int, ...]], separator: str
) -> Iterator[SourceRow]:
    """One row per pair of ids in the cells at ``columns()`` (asked once, at the first row:
    the header is bound by then)."""
    at: tuple[int, ...] | None = None
    for row in rows:
        if at is None:
            at = columns()
        if not any(separator in row.cells[index] for index in at):
            yield row  # the fast path: one id per cell
            continue
        choices = [_parts(row.cells[index], separator) for index in at]
        for chosen in product(*choices):
            cells = list(row.cells)
            for index, value in zip(at, chosen, strict=True):
                cells[index] = value
            yield replace(row, cells=tuple(cells))


def _parts(cell: str, separator: str) -> list[str]:
    parts = [part.strip() for part in cell.split(separator)]
    return [part for part in parts if part] or [cell]
