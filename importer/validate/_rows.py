"""Pure checks of rows against the association: what a run may send, and what it must not.

:meth:`RowValidator.examine` turns one :class:`SourceRow` into a :class:`Verdict`: either the
row's two values (perhaps with warnings) or the outcome it gets without any request
(``invalid``); :meth:`RowValidator.settle` then refuses a pair with the same record on both
sides, or met before (``duplicate_row``). ``Checks.judge`` calls both, around the resolution
of natural keys. No I/O: the association and column positions come in.

Duplicates are remembered by a 64-bit key of the scope and pair (:func:`pair_key`: Python's
own hash where it is 64 bits wide, keyed at random per process unless PYTHONHASHSEED is set, so
a file cannot aim at a collision; else a keyed blake2b: two different pairs share a key about
once in 40 million files of a million rows), with the first row that had it: in memory up to
``seen_limit`` pairs, on disk beyond (see :mod:`importer.validate._seen`), one set for every
scope of a run, so memory does not grow with the file nor with its locations.
"""

from __future__ import annotations

import hashlib
import os
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from importer.errors import InputError
from importer.models import Association, Issue, Outcome, Pair, SourceRow, Status
from importer.read import letters
from importer.validate._seen import LIMIT, SeenPairs

_KEY = os.urandom(16)  # the pair keys' own, where hash() is narrower than 64 bits


def _hashed_key(scope: str, first: str, second: str) -> int:
    return hash((scope, first, second))


def _digested_key(scope: str, first: str, second: str) -> int:
    text = f"{scope}\x00{first}\x00{second}".encode()
    digest = hashlib.blake2b(text, digest_size=8, key=_KEY).digest()
    return int.from_bytes(digest, "big", signed=True)


#: A signed 64-bit key of a pair in its scope (location and association): Python's own hash
#: where it is that wide, else a keyed blake2b (chosen once, not per row).
pair_key: Callable[[str, str, str], int] = (
    _hashed_key if sys.hash_info.width >= 64 else _digested_key
)


#: Id shapes seen in the wild, per object key: hints, never proof (see the API notes, 6).
SHAPES = {
    "contact": (re.compile(r"[A-Za-z0-9]{20}"), "20 letters and digits"),
    "opportunity": (re.compile(r"[A-Za-z0-9]{20}"), "20 letters and digits"),
    "business": (re.compile(r"[0-9a-fA-F]{24}"), "24 hexadecimal characters"),
    "custom_objects.": (re.compile(r"[0-9a-fA-F]{24}"), "24 hexadecimal characters"),
}
#: No id of the API is this short (they have 20 or 24 characters): a shorter value is a
#: placeholder (``x``, ``-``, ``n/a``) or a cut-off id, never sent.
MIN_ID_LENGTH = 10
_BAD_CHARACTER = re.compile(r"[\s\x00-\x1f\x7f]")


def shape_of(object_key: str) -> tuple[re.Pattern[str], str] | None:
    """The usual id shape of an object kind, or None when nothing is known."""
    if object_key.startswith("custom_objects."):
        return SHAPES["custom_objects."]
    return SHAPES.get(object_key)


_HEX = "0123456789abcdefABCDEF"
#: The shapes' regexes as tests in C string methods (every id of every row meets one).
_SHAPE_TESTS: dict[str, Callable[[str], bool]] = {
    SHAPES["contact"][0].pattern: lambda v: len(v) == 20 and v.isascii() and v.isalnum(),
    SHAPES["business"][0].pattern: lambda v: len(v) == 24 and not v.strip(_HEX),
}


def _well_shaped(object_key: str) -> Callable[[str], bool] | None:
    """A test true only for ids of the object kind's usual shape: such an id passes every
    check of :meth:`RowValidator._check_id` (it has no blank, separator, space, @ or phone
    punctuation, and is long enough). None when no shape is known."""
    shape = shape_of(object_key)
    if shape is None:
        return None
    pattern = shape[0]

    def matches(value: str) -> bool:
        return pattern.fullmatch(value) is not None

    return _SHAPE_TESTS.get(pattern.pattern, matches)


_set = object.__setattr__


@dataclass(frozen=True, init=False)
class Verdict:
    """A row's fate before sending: ``pair`` to send, or ``outcome`` without a request.
    (Made once per row: its ``__init__`` sets every field in one call.)"""

    pair: Pair | None = None
    outcome: Outcome | None = None
    warnings: tuple[Issue, ...] = ()

    def __init__(
        self,
        pair: Pair | None = None,
        outcome: Outcome | None = None,
        warnings: tuple[Issue, ...] = (),
    ) -> None:
        _set(self, "__dict__", {"pair": pair, "outcome": outcome, "warnings": warnings})


def column_index(
    header: tuple[str, ...],
    name: str,
    path: str,
    role: str,
    duplicates: Mapping[str, tuple[int, ...]] | None = None,
) -> int:
    """Position of a column named by its title, else by its letter (``C``) or its 1-based
    position (``3``) as a spreadsheet user names it: a title wins, so a column titled ``A``
    is that column, not the first. InputError naming the columns found when it is missing,
    or the columns that share its title (either could be the one meant)."""
    shared = (duplicates or {}).get(name) or next(
        (at for title, at in (duplicates or {}).items() if title.casefold() == name.casefold()),
        None,
    )
    if shared:
        shown = " and ".join(f"column {letters(position)}" for position in shared)
        raise InputError(
            f"{path}: {len(shared)} columns are called '{name}' ({shown}), so the {role} ids "
            f"could be in either. Rename one of them, or name the column by its letter: "
            f"--{role}-column {letters(shared[0])}."
        )
    found = find_column(header, name)
    if found is not None:
        return found
    listed = ", ".join(f"'{cell}'" for cell in header) or "none"
    raise InputError(
        f"{path}: there is no column '{name}' for the {role} ids. Columns found: {listed}. "
        f"Set {role}_column in config.yaml or --{role}-column to one of them (or to its "
        "letter, such as B)."
    )


def find_column(header: Sequence[str], name: str, *, by_name_only: bool = False) -> int | None:
    """The position of the column ``name`` means (see :func:`column_index`), or None."""
    if name in header:
        return list(header).index(name)
    folded = [cell.casefold() for cell in header]
    if name.casefold() in folded:
        return folded.index(name.casefold())
    if by_name_only:
        return None
    if _LETTERS.fullmatch(name):
        position = 0
        for letter in name.upper():
            position = position * 26 + ord(letter) - ord("A") + 1
    elif name.isdigit():
        position = int(name)
    else:
        return None
    return position - 1 if 1 <= position <= len(header) else None


_LETTERS = re.compile(r"[A-Za-z]{1,3}")


#: What a column may hold instead of ids: a natural key looked up before sending.
ID, EMAIL, PHONE, PROPERTY = "id", "email", "phone", "property"
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
#: A phone number as people write it, never an id: a + or a separator among digits.
_PHONE_LIKE = re.compile(r"\+[\d\s().-]+|[\d\s().]*\d[\d\s()]*[-.()][\d\s().-]*")


def is_email(value: str) -> bool:
    return bool(_EMAIL.fullmatch(value))


def is_phone(value: str) -> bool:
    """Written as people write phone numbers (a + or separators among 7 digits or more)."""
    return bool(_PHONE_LIKE.fullmatch(value)) and sum(c.isdigit() for c in value) >= 7


def lookup_kind(lookup: str, object_key: str) -> tuple[str, str] | None:
    """(kind, property) of a side's ``lookup`` setting, or None when the object kind cannot be
    looked up that way: email and phone are contacts', any other word a custom object's
    property (``property:email`` for a property named email)."""
    if lookup == ID:
        return ID, ""
    if object_key == "contact":
        return (lookup, "") if lookup in (EMAIL, PHONE) else None
    if object_key.startswith("custom_objects.") and lookup not in (EMAIL, PHONE):
        return PROPERTY, lookup.removeprefix("property:")  # property:email for one so named
    return None


def normal_phone(value: str, region: str) -> str | None:
    """A phone number in E.164 (+15550100001), from any usual writing; None if it is none."""
    import phonenumbers  # here: its metadata is large, and most runs read no phone number

    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@dataclass(frozen=True, slots=True)
class Side:
    """One side of the association as the file holds it."""

    index: int  # the column's position
    column: str
    role: str  # "first" or "second"
    object_key: str
    label: str
    kind: str = ID  # ID, EMAIL, PHONE or PROPERTY
    prop: str = ""  # the property, for PROPERTY


class RowValidator:
    """Checks each row; remembers pairs already seen to report duplicates.

    :meth:`examine` (the cells), then :meth:`settle` (same record on both sides, duplicates)
    of the pair of ids to send: a run whose columns hold natural keys looks the keys up in
    between, and settles the ids they resolved to.
    """

    def __init__(
        self,
        association: Association,
        *,
        first_index: int,
        second_index: int,
        first_column: str,
        second_column: str,
        strict_ids: bool = False,
        first_lookup: str = ID,
        second_lookup: str = ID,
        phone_region: str = "US",
        seen_limit: int = LIMIT,
        seen: SeenPairs | None = None,
        scope: str = "",
    ) -> None:
        sides = []
        for index, column, role, object_key, label, lookup in (
            (
                first_index,
                first_column,
                "first",
                association.first_object_key,
                association.first_object_label,
                first_lookup,
            ),
            (
                second_index,
                second_column,
                "second",
                association.second_object_key,
                association.second_object_label,
                second_lookup,
            ),
        ):
            kind = lookup_kind(lookup, object_key) or (ID, "")
            sides.append(Side(index, column, role, object_key, label, *kind))
        self.sides = (sides[0], sides[1])
        self._strict = strict_ids
        self._region = phone_region
        #: the pairs met, shared by every scope of a run (``scope`` tells them apart)
        self._seen = seen if seen is not None else SeenPairs(seen_limit)
        self._scope = scope
        # ids on both sides, of known shapes: a row whose two ids have them is valid at once
        tests = [_well_shaped(side.object_key) if side.kind == ID else None for side in sides]
        self._fast = (sides[0].index, tests[0], sides[1].index, tests[1])

    def _plain(self, row: SourceRow) -> Pair | None:
        """The two ids of a row that has them in their sides' usual shapes (valid at a
        glance), else None."""
        first_at, first_ok, second_at, second_ok = self._fast
        if first_ok is None or second_ok is None or row.issues:
            return None
        cells, stored = row.cells, row.numeric  # stored as numbers: the slow path says so
        first, second = cells[first_at], cells[second_at]
        if (
            first_ok(first)
            and second_ok(second)
            and (not stored or (first_at not in stored and second_at not in stored))
        ):
            return Pair(first, second)
        return None

    def fresh(self, row: SourceRow) -> Pair | None:
        """The pair of a row that needs no look-up and passes every check at a glance: ids
        of their usual shapes, two records, a pair met for the first time (now remembered).
        None: :meth:`examine` and :meth:`settle` say what the row is. Most rows of most files
        take this path, so it is one call."""
        pair = self._plain(row)
        if pair is None or pair.first_id == pair.second_id:
            return None
        number = row.number
        if self._seen.first(pair_key(self._scope, pair.first_id, pair.second_id), number) != number:
            return None  # a duplicate: settle() says of which row
        return pair

    def examine(self, row: SourceRow) -> Verdict:
        """The row's cells: ``pair`` holds its two values (normalised keys for key sides)."""
        plain = self._plain(row)
        if plain is not None:
            return Verdict(plain)
        issues, warnings, missing = self._width_issues(row)
        values: list[str] = []
        for side in self.sides:
            value = row.cells[side.index]
            if side in missing:
                values.append(value)
                continue
            numeric = side.index in row.numeric
            if side.kind == ID:
                problem = self._check_id(value, numeric, side)
            else:
                value, problem = self._check_key(value, numeric, side)
            values.append(value)
            if problem is None:
                continue
            if problem.code.endswith("_shape") and not self._strict:
                warnings.append(problem)
            else:
                issues.append(problem)
        if issues:
            return Verdict(outcome=_invalid(issues), warnings=tuple(warnings))
        return Verdict(pair=Pair(values[0], values[1]), warnings=tuple(warnings))

    def _width_issues(self, row: SourceRow) -> tuple[list[Issue], list[Issue], list[Side]]:
        """The row's own issues (invalid), its warnings and the sides whose cell is missing.

        A row shorter or longer than the header is sent with a warning when both of its id
        cells are there; only a missing id cell makes it invalid (``short_row``)."""
        issues: list[Issue] = []
        warnings: list[Issue] = []
        missing: list[Side] = []
        for issue in row.issues:
            if issue.code == "short_row":
                present = len(row.cells) if row.present is None else row.present
                missing = [side for side in self.sides if side.index >= present]
                if missing:
                    names = " and ".join(f"'{side.column}'" for side in missing)
                    cells = "cell is" if len(missing) == 1 else "cells are"
                    issues.append(
                        Issue(issue.code, f"{issue.message}: the {names} {cells} missing")
                    )
                else:
                    warnings.append(
                        Issue(issue.code, f"{issue.message}; the missing cells are read as empty")
                    )
            elif issue.code == "long_row":
                warnings.append(issue)
            else:
                issues.append(issue)
        return issues, warnings, missing

    def settle(self, number: int, pair: Pair) -> Outcome | None:
        """Same record on both sides, or a pair this validator met before (one validator per
        location and association): the row's outcome, else None."""
        if pair.first_id == pair.second_id:
            return _invalid(
                [
                    Issue(
                        "same_record",
                        f"the same id {pair.first_id} is on both sides; a record cannot be "
                        "related to itself",
                        None,
                    )
                ]
            )
        earlier = self._seen.first(pair_key(self._scope, pair.first_id, pair.second_id), number)
        if earlier != number:
            return Outcome(
                Status.DUPLICATE_ROW,
                error_code="duplicate_row",
                error=f"same pair as row {earlier}; only row {earlier} is sent",
            )
        return None

    def _check_key(self, value: str, numeric: bool, side: Side) -> tuple[str, Issue | None]:
        """A natural key, normalised (an email in lower case, a phone number in E.164)."""
        what = f"{side.label or side.object_key} {side.kind} in column '{side.column}'"
        if side.kind == PROPERTY:
            what = f"{side.label or side.object_key} {side.prop} in column '{side.column}'"
        if not value:
            return value, Issue(f"{side.role}_key_blank", f"the {what} is blank", side.column)
        if side.kind == EMAIL:
            if not _EMAIL.fullmatch(value):
                return value, Issue(
                    f"{side.role}_key_malformed",
                    f"the {what} ({value}) is not an email address",
                    side.column,
                )
            return value.lower(), None
        if side.kind == PHONE:
            phone = normal_phone(value, self._region)
            if phone is None:
                return value, Issue(
                    f"{side.role}_key_malformed",
                    f"the {what} ({value}) is not a phone number; write it with its country "
                    f"code (+52 55 1234 5678), or set phone_region (now {self._region}) to "
                    "the country of numbers written without one",
                    side.column,
                )
            return phone, None
        return value.lower(), None  # a property matches ignoring case: one look-up

    def _check_id(self, value: str, numeric: bool, side: Side) -> Issue | None:
        what = f"{side.label or side.object_key} id in column '{side.column}'"
        role, column, object_key = side.role, side.column, side.object_key
        if not value:
            return Issue(f"{role}_id_blank", f"the {what} is blank", column)
        if numeric:
            return Issue(
                f"{role}_id_number",
                f"the {what} was stored by Excel as a number ({value}), which may have lost "
                "digits; format the column as Text and paste the ids again",
                column,
            )
        several = next((sep for sep in ";|," if sep in value), None)
        if several is not None:
            return Issue(
                f"{role}_id_several",
                f"the {what} holds several values ({value}); to make one relation per id, "
                f"add --split '{several}' (or set split: '{several}')",
                column,
            )
        if _BAD_CHARACTER.search(value):
            return Issue(
                f"{role}_id_malformed",
                f"the {what} contains spaces or control characters ({value!r}); "
                "an id is a single word",
                column,
            )
        lookup = f"--{role}-lookup"
        phone = _PHONE_LIKE.fullmatch(value) and sum(c.isdigit() for c in value) >= 7
        if len(value) < MIN_ID_LENGTH and not phone:
            return Issue(
                f"{role}_id_malformed",
                f"the {what} ({value}) is too short to be an id (ids have 20 or more "
                "characters); put the record's id in the cell",
                column,
            )
        if _EMAIL.fullmatch(value):
            can = (
                "email"
                if object_key == "contact"
                else "<property name>"
                if object_key.startswith("custom_objects.")
                else None
            )
            fix = (
                f"if the column holds e-mail addresses, look them up: {role}_lookup: {can} "
                f"(or {lookup} {can})"
                if can
                else f"{object_key} records are found by id only: check the column order"
            )
            return Issue(
                f"{role}_id_email",
                f"the {what} looks like an e-mail address ({value}), not an id; {fix}",
                column,
            )
        if phone:
            return Issue(
                f"{role}_id_phone",
                f"the {what} looks like a phone number ({value}), not an id; if the column holds "
                f"phone numbers of contacts, look them up: {role}_lookup: phone "
                f"(or {lookup} phone)",
                column,
            )
        shape = shape_of(object_key)
        if shape is not None and not shape[0].fullmatch(value):
            return Issue(
                f"{role}_id_shape",
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
