"""Pure checks of rows against the association: what a run may send, and what it must not.

``RowValidator.check(row)`` turns one :class:`SourceRow` into a :class:`Verdict`: either a
:class:`Pair` to send (perhaps with warnings) or the outcome the row gets without any request
(``invalid`` or ``duplicate_row``). No I/O: the association and column positions come in.

Duplicates are remembered by a 64-bit digest of the pair (a collision between two different
pairs is about 1 in 10^10 for a million rows) so memory per distinct pair stays small.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from importer.errors import InputError
from importer.models import Association, Issue, Outcome, Pair, SourceRow, Status

#: Id shapes seen in the wild, per object key: hints, never proof (see the API notes, 6).
_SHAPES = {
    "contact": (re.compile(r"[A-Za-z0-9]{20}"), "20 letters and digits"),
    "opportunity": (re.compile(r"[A-Za-z0-9]{20}"), "20 letters and digits"),
    "business": (re.compile(r"[0-9a-f]{24}"), "24 hexadecimal characters"),
    "custom_objects.": (re.compile(r"[0-9a-f]{24}"), "24 hexadecimal characters"),
}
_BAD_CHARACTER = re.compile(r"[\s\x00-\x1f\x7f]")


def shape_of(object_key: str) -> tuple[re.Pattern[str], str] | None:
    """The usual id shape of an object kind, or None when nothing is known."""
    if object_key.startswith("custom_objects."):
        return _SHAPES["custom_objects."]
    return _SHAPES.get(object_key)


@dataclass(frozen=True, slots=True)
class Verdict:
    """A row's fate before sending: ``pair`` to send, or ``outcome`` without a request."""

    pair: Pair | None = None
    outcome: Outcome | None = None
    warnings: tuple[Issue, ...] = ()


def column_index(header: tuple[str, ...], name: str, path: str, role: str) -> int:
    """Position of a named column; InputError naming the columns found when it is missing."""
    if name in header:
        return header.index(name)
    folded = [cell.casefold() for cell in header]
    if name.casefold() in folded:
        return folded.index(name.casefold())
    found = ", ".join(f"'{cell}'" for cell in header) or "none"
    raise InputError(
        f"{path}: there is no column '{name}' for the {role} ids. Columns found: {found}. "
        f"Set {role}_column in config.yaml or --{role}-column to one of them."
    )


class RowValidator:
    """Checks each row; remembers pairs already seen to report duplicates."""

    def __init__(
        self,
        association: Association,
        *,
        first_index: int,
        second_index: int,
        first_column: str,
        second_column: str,
        strict_ids: bool = False,
    ) -> None:
        self._sides = (
            (
                first_index,
                first_column,
                "first",
                association.first_object_key,
                association.first_object_label,
            ),
            (
                second_index,
                second_column,
                "second",
                association.second_object_key,
                association.second_object_label,
            ),
        )
        self._strict = strict_ids
        self._seen: dict[int, int] = {}

    def check(self, row: SourceRow) -> Verdict:
        issues = list(row.issues)
        warnings: list[Issue] = []
        ids: list[str] = []
        for index, column, side, object_key, label in self._sides:
            value = row.cells[index]
            ids.append(value)
            problem = self._check_id(value, index in row.numeric, column, side, object_key, label)
            if problem is None:
                continue
            if problem.code.endswith("_shape") and not self._strict:
                warnings.append(problem)
            else:
                issues.append(problem)
        first, second = ids
        if not issues and first == second:
            issues.append(
                Issue(
                    "same_record",
                    f"the same id {first} is on both sides; a record cannot be related to itself",
                    None,
                )
            )
        if issues:
            return Verdict(outcome=_invalid(issues), warnings=tuple(warnings))
        digest = int.from_bytes(
            hashlib.blake2b(f"{first}\x00{second}".encode(), digest_size=8).digest(), "big"
        )
        earlier = self._seen.setdefault(digest, row.number)
        if earlier != row.number:
            return Verdict(
                outcome=Outcome(
                    Status.DUPLICATE_ROW,
                    error_code="duplicate_row",
                    error=f"same pair as row {earlier}; only row {earlier} is sent",
                ),
                warnings=tuple(warnings),
            )
        return Verdict(pair=Pair(first, second), warnings=tuple(warnings))

    def _check_id(
        self, value: str, numeric: bool, column: str, side: str, object_key: str, label: str
    ) -> Issue | None:
        what = f"{label or object_key} id in column '{column}'"
        if not value:
            return Issue(f"{side}_id_blank", f"the {what} is blank", column)
        if numeric:
            return Issue(
                f"{side}_id_number",
                f"the {what} was stored by Excel as a number ({value}), which may have lost "
                "digits; format the column as Text and paste the ids again",
                column,
            )
        if _BAD_CHARACTER.search(value):
            return Issue(
                f"{side}_id_malformed",
                f"the {what} contains spaces or control characters ({value!r}); "
                "an id is a single word",
                column,
            )
        shape = shape_of(object_key)
        if shape is not None and not shape[0].fullmatch(value):
            return Issue(
                f"{side}_id_shape",
                f"the {what} ({value}) does not look like a {object_key} id "
                f"(usually {shape[1]}); check the column order",
                column,
            )
        return None


def _invalid(issues: list[Issue]) -> Outcome:
    return Outcome(
        Status.INVALID,
        error_code=issues[0].code,
        error="; ".join(issue.message for issue in issues),
    )
