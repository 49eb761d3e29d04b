"""Between validating and sending: what each row is for, and what only the API can tell.

:class:`Checks` knows, for every row, its location and association (one of each from the
settings, or per row from ``location_column`` / ``association_column``), the validator of that
association, and, once the run has asked the API its questions (see :mod:`importer.validate`),
the record ids its natural keys resolve to and whether its records exist and are of the right
kind. :meth:`Checks.resolve` then turns a row's two values into the pair to send, or into the
outcome the row gets without a request (``invalid``, ``unresolved``, ``ambiguous``).

Before anything is sent, :meth:`Checks.check_order` stops a run whose columns are the wrong
way round, from the id shapes (counted by the survey) or from the records' kinds, with the
evidence. The run's pre-flight (``Import._preflight`` in :mod:`importer.run`) calls these in turn.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace

from importer.config import Settings
from importer.errors import AuthError, ConfigError, InputError
from importer.models import Association, Issue, Outcome, Pair, SourceRow, Status
from importer.validate._lookup import Lookups, Question, key_question, record_question
from importer.validate._rows import (
    ID,
    SHAPES,
    RowValidator,
    Side,
    column_index,
    find_column,
    lookup_kind,
    shape_of,
)
from importer.validate._seen import SeenPairs

MAX_SCOPES = 1000  # distinct (location, association) values in one file
ScopeKey = tuple[str, str]  # (location id, association key or id as written)


@dataclass
class Evidence:
    """What the rows say about the order of the columns."""

    by_shape: Counter[str] = field(default_factory=Counter)  # "in_order" / "swapped" rows
    by_kind: Counter[str] = field(default_factory=Counter)  # "first ok", "first wrong", ...


@dataclass(frozen=True, slots=True)
class Judgement:
    """A row's fate before sending: ``pair`` to send, or ``outcome`` without a request."""

    location: str
    association: Association | None
    pair: Pair | None = None
    outcome: Outcome | None = None
    warnings: tuple[Issue, ...] = ()


class Checks:
    """A row's scope, validator and resolution. ``bind(header)`` first."""

    def __init__(self, settings: Settings, where: str) -> None:
        self.settings = settings
        self.where = where
        self.associations: dict[ScopeKey, Association | None] = {}
        #: Locations the token may not access (403), by the error: their rows are not sent.
        self.refused: dict[str, AuthError] = {}
        self._validators: dict[ScopeKey, RowValidator] = {}
        self._seen = SeenPairs()  # the pairs met, in every scope: memory flat with many
        self._at: tuple[int, int] = (0, 1)
        self._location_at: int | None = None
        self._association_at: int | None = None
        self.evidence = Evidence()
        #: Both columns hold ids (nothing to resolve).
        self.plain_ids = all(lookup == ID for _, lookup in settings.sides())
        #: Rows per scope and id shape of the two cells (the shape's regex, or ""): the survey
        #: counts them, so the order can be judged without reading the file again; or, for a
        #: run without a survey, :meth:`judge` does (:meth:`count_as_judged`).
        self.shapes: Counter[tuple[ScopeKey, str, str]] = Counter()
        self.tally = False  # judge() counts them (count_as_judged)
        self._fresh = 0  # rows judged valid at a glance (their shapes are their sides')
        #: (location, association, validator) of a run whose rows need no resolution: one
        #: scope, ids not checked. Found at the first row judged (the association is known).
        self._quick: tuple[str, Association, RowValidator] | None = None
        self._quick_found = False

    @property
    def per_row(self) -> bool:
        return bool(self.settings.location_column or self.settings.association_column)

    def bind(
        self, header: tuple[str, ...], duplicates: Mapping[str, tuple[int, ...]] | None = None
    ) -> None:
        """Find the columns (InputError naming the ones found when one is missing, or the
        columns that share its title)."""
        s, where = self.settings, self.where
        (first, _), (second, _) = s.sides()
        self._at = (
            column_index(header, first, where, "first", duplicates),
            column_index(header, second, where, "second", duplicates),
        )
        if self._at[0] == self._at[1]:
            raise InputError(
                f"{where}: '{first}' and '{second}' are the same column "
                f"({header[self._at[0]]!r}); each side of the relation needs its own column."
            )
        if s.location_column:
            self._location_at = column_index(
                header, s.location_column, where, "location", duplicates
            )
        if s.association_column:
            self._association_at = column_index(
                header, s.association_column, where, "association", duplicates
            )

    def fits(self, header: Sequence[str]) -> bool:
        """The configured columns are all in ``header`` by title (a header row below a
        title line is found with this)."""
        s = self.settings
        (first, _), (second, _) = s.sides()
        names = [first, second, s.location_column, s.association_column]
        return all(
            find_column(header, name, by_name_only=True) is not None for name in names if name
        )

    def scope_keys(self, rows: Iterator[SourceRow]) -> tuple[int, set[ScopeKey]]:
        """Count the rows and collect the distinct (location, association) they name."""
        keys: set[ScopeKey] = set()
        count = 0
        first, second = self._at
        shapes = self._shapes_tell
        fixed = None if self.per_row else self._key(SourceRow(0, ()))
        for row in rows:
            count += 1
            key = fixed or self._key(row)
            if shapes:
                self.shapes[key, id_shape(row.cells[first]), id_shape(row.cells[second])] += 1
            if key[0] and key[1] and key not in keys:
                keys.add(key)
                if len(keys) > MAX_SCOPES:
                    raise InputError(
                        f"{self.where}: more than {MAX_SCOPES} different locations and "
                        "associations in one file. Check location_column and "
                        "association_column: they should name a few locations and associations."
                    )
        return count, keys

    def count_as_judged(self) -> None:
        """Count the id shapes as :meth:`judge` meets the rows, as :meth:`scope_keys` would
        (then :meth:`count_shapes` and :meth:`check_order` after the last row)."""
        self.tally = self._shapes_tell

    @property
    def _shapes_tell(self) -> bool:
        """Whether the id shapes can tell the order: ids on both sides, the check on."""
        return self.plain_ids and self.settings.order_check

    def _key(self, row: SourceRow) -> ScopeKey:
        s = self.settings
        location = row.cells[self._location_at] if self._location_at is not None else None
        association = row.cells[self._association_at] if self._association_at is not None else None
        return (
            s.location_id or "" if location is None else location,
            s.association or "" if association is None else association,
        )

    def scope(self, row: SourceRow) -> tuple[ScopeKey, Association | None, Outcome | None]:
        """The row's location and association, or the outcome of a row that names none."""
        if not self.per_row:  # one location and association for every row: the fast path
            fixed = (self.settings.location_id or "", self.settings.association or "")
            return fixed, self.associations.get(fixed), None
        key = self._key(row)
        for value, code, column in (
            (key[0], "location_blank", self.settings.location_column),
            (key[1], "association_blank", self.settings.association_column),
        ):
            if not value:
                what = code.split("_")[0]
                return key, None, _invalid(code, f"the {what} in column '{column}' is blank")
        association = self.associations.get(key)
        if key[0] in self.refused:  # not final: a run with that location's token sends it
            return key, None, _location_refused(key[0], self.settings.location_column)
        if association is None:
            return (
                key,
                None,
                _invalid(
                    "association_not_found",
                    f"the association '{key[1]}' does not exist in location {key[0]} "
                    f"(relimport associations --location-id {key[0]} lists them)",
                ),
            )
        return key, association, None

    def check_lookups(self) -> None:
        """Each side's lookup must fit the kind of record on that side of every association."""
        (_, first), (_, second) = self.settings.sides()
        for association in filter(None, self.associations.values()):
            for role, lookup, object_key in (
                ("first", first, association.first_object_key),
                ("second", second, association.second_object_key),
            ):
                if lookup_kind(lookup, object_key) is None:
                    can = (
                        "by id, email or phone"
                        if object_key == "contact"
                        else "by id or by a property name (property:email for one named email)"
                        if object_key.startswith("custom_objects.")
                        else "only by id"
                    )
                    other = (
                        association.second_object_key
                        if role == "first"
                        else association.first_object_key
                    )
                    hint = (
                        " If that column holds the other side's records, the columns are "
                        "swapped: add --swap."
                        if other == "contact" and lookup in ("email", "phone")
                        else ""
                    )
                    raise ConfigError(
                        f"{role}_lookup is '{lookup}', but the {role} side of association "
                        f"{association.key or association.id} holds {object_key} records, "
                        f"which can be found {can}. Set {role}_lookup accordingly.{hint}"
                    )

    def validator(self, key: ScopeKey, association: Association) -> RowValidator:
        """One per location and association (named by key or by id alike: one set of pairs)."""
        key = (key[0], association.id)
        if key not in self._validators:
            s = self.settings
            (first_column, first_lookup), (second_column, second_lookup) = s.sides()
            self._validators[key] = RowValidator(
                association,
                seen=self._seen,
                scope=f"{key[0]}\x00{key[1]}",
                first_index=self._at[0],
                second_index=self._at[1],
                first_column=first_column,
                second_column=second_column,
                strict_ids=s.strict_ids,
                first_lookup=first_lookup,
                second_lookup=second_lookup,
                phone_region=s.phone_region,
            )
        return self._validators[key]

    @property
    def columns(self) -> tuple[int, int]:
        """Positions of the first and the second side's column."""
        return self._at

    def record_sides(
        self,
        rows: Iterator[SourceRow],
        lookups: Lookups,
        known: Callable[[str, str, Pair], bool] = lambda location, association, pair: False,
    ) -> dict[tuple[str, str], tuple[set[str], int]]:
        """(location, association id) -> (the records of its side with fewer of them, the rows
        that would be sent): what --skip-existing would read, and the most it may save. Pairs
        ``known`` already (the ledger holds them) are left out: they cost nothing."""
        sides: dict[tuple[str, str], tuple[set[str], set[str]]] = {}
        sendable: Counter[tuple[str, str]] = Counter()
        for location, association, validator, values in self._examined(rows):
            pair = self.resolve(location, validator, values, lookups)
            if isinstance(pair, Pair) and not known(location, association.id, pair):
                scope = (location, association.id)
                first, second = sides.setdefault(scope, (set(), set()))
                first.add(pair.first_id)
                second.add(pair.second_id)
                sendable[scope] += 1
        return {scope: (min(records, key=len), sendable[scope]) for scope, records in sides.items()}

    def resolved(
        self, rows: Iterator[SourceRow], lookups: Lookups
    ) -> Iterator[tuple[str, str, Pair | Outcome]]:
        """(location, association id, the pair, or the outcome of a row that resolves to
        none) of each row whose cells pass (--mirror: the pairs the file holds)."""
        for location, association, validator, values in self._examined(rows):
            yield location, association.id, self.resolve(location, validator, values, lookups)

    def _examined(
        self, rows: Iterator[SourceRow]
    ) -> Iterator[tuple[str, Association, RowValidator, Pair]]:
        """(location, association, its validator, the two values) of each row whose cells
        pass; rows that name no association, or fail their checks, are left out."""
        for row in rows:
            key, association, _ = self.scope(row)
            if association is None:
                continue
            validator = self.validator(key, association)
            values = validator.examine(row).pair
            if values is not None:
                yield key[0], association, validator, values

    # -- before sending ---------------------------------------------------------------------

    def questions(self, rows: Iterator[SourceRow]) -> tuple[list[Question], list[Question]]:
        """Read every row: (natural keys to look up, record ids to check), each once."""
        keys: dict[Question, None] = {}
        records: dict[Question, None] = {}
        check = self.settings.check_records
        for location, _, validator, values in self._examined(rows):
            first, second = validator.sides
            for side, value in ((first, values.first_id), (second, values.second_id)):
                if side.kind != ID:
                    question = key_question(location, side.kind, side.object_key, side.prop, value)
                    keys[question] = None
                elif check:
                    records[record_question(location, side.object_key, value)] = None
        return list(keys), list(records)

    def count_shapes(self) -> None:
        """Evidence of the order from the id shapes the survey (or :meth:`judge`) counted
        (ids on both sides)."""
        if not self.plain_ids:
            return
        if self._fresh and self._quick is not None:  # valid at a glance: their sides' shapes
            location, _, validator = self._quick
            shapes = [shape_of(side.object_key) for side in validator.sides]
            if shapes[0] is not None and shapes[1] is not None:
                key = (location, self.settings.association or "")
                self.shapes[key, shapes[0][0].pattern, shapes[1][0].pattern] += self._fresh
            self._fresh = 0
        for (key, first, second), rows in self.shapes.items():
            association = self.associations.get(key)
            if association is None:
                continue
            expected = shape_of(association.first_object_key)
            other = shape_of(association.second_object_key)
            if expected is None or other is None or expected[0] == other[0]:
                continue
            if (first, second) == (expected[0].pattern, other[0].pattern):
                self.evidence.by_shape["in_order"] += rows
            elif (first, second) == (other[0].pattern, expected[0].pattern):
                self.evidence.by_shape["swapped"] += rows

    def other_kind_questions(self, lookups: Lookups, asked: list[Question]) -> list[Question]:
        """For ids not found as their side's kind: ask as the other side's kind (one request
        per id missing, to tell a wrong kind, such as swapped columns, from a missing one)."""
        kinds = self._kinds()
        more = []
        for question in asked:
            others = kinds.get((question.location, question.kind), ())
            if lookups.answer(question) == ():
                more += [Question(question.location, other, question.key) for other in others]
        return more

    def _kinds(self) -> dict[tuple[str, str], tuple[str, ...]]:
        """(location, record:<kind>) -> the other kinds of its associations' sides."""
        found: dict[tuple[str, str], set[str]] = {}
        for (location, _), association in self.associations.items():
            if association is None:
                continue
            a, b = association.first_object_key, association.second_object_key
            if a != b:
                found.setdefault((location, f"record:{a}"), set()).add(f"record:{b}")
                found.setdefault((location, f"record:{b}"), set()).add(f"record:{a}")
        return {key: tuple(sorted(value)) for key, value in found.items()}

    def check_order(self) -> None:
        """Stop before sending when most rows say the columns are the wrong way round."""
        if not self.settings.order_check:
            return
        (first_column, _), (second_column, _) = self.settings.sides()
        shape, kind = self.evidence.by_shape, self.evidence.by_kind
        fix = (
            "Run again without --swap (or set swap: false)"
            if self.settings.swap
            else "Run again with --swap (or set swap: true) to read them the other way round"
        )
        association = next(filter(None, self.associations.values()))
        first_shape = shape_of(association.first_object_key)
        second_shape = shape_of(association.second_object_key)
        if shape["swapped"] > shape["in_order"] and first_shape and second_shape:
            raise InputError(
                f"{self.where}: the columns look swapped. In {shape['swapped']} rows the "
                f"'{first_column}' column holds ids shaped like {association.second_object_key} "
                f"ids ({second_shape[1]}) and '{second_column}' ids shaped like "
                f"{association.first_object_key} ids ({first_shape[1]}); "
                f"{shape['in_order']} rows fit the association's order. {fix}, "
                "or check the association. Nothing was sent. (If the ids are right as they "
                "are, --no-order-check sends them anyway.)"
            )
        if kind["first wrong"] > kind["first ok"] and kind["second wrong"] > kind["second ok"]:
            raise InputError(
                f"{self.where}: the columns are swapped. Of the ids in '{first_column}', "
                f"{kind['first wrong']} are {association.second_object_key} records and "
                f"{kind['first ok']} {association.first_object_key} records; of those in "
                f"'{second_column}', {kind['second wrong']} are "
                f"{association.first_object_key} records and {kind['second ok']} "
                f"{association.second_object_key} records. {fix}. Nothing was sent."
            )

    # -- each row ---------------------------------------------------------------------------

    def judge(self, row: SourceRow, lookups: Lookups) -> Judgement:
        """One row, as the run sends it: its scope, its cells, its ids resolved, duplicates.

        Either ``pair`` is set (send it) or ``outcome`` is the row's without a request."""
        quick = self._quick if self._quick_found else self._quick_path()
        if quick is not None:
            pair = quick[2].fresh(row)
            if pair is not None:
                self._fresh += 1
                return Judgement(quick[0], quick[1], pair=pair)
        key, association, problem = self.scope(row)
        if self.tally:  # the survey's count, for a run that reads its file once
            first, second = self._at
            self.shapes[key, id_shape(row.cells[first]), id_shape(row.cells[second])] += 1
        if problem is not None or association is None:
            return Judgement(key[0], None, outcome=problem)
        validator = self.validator(key, association)
        verdict = validator.examine(row)
        warnings = verdict.warnings
        if verdict.pair is None:
            return Judgement(key[0], association, outcome=verdict.outcome, warnings=warnings)
        resolved = self.resolve(key[0], validator, verdict.pair, lookups)
        if isinstance(resolved, Outcome):
            return Judgement(key[0], association, outcome=resolved, warnings=warnings)
        settled = validator.settle(row.number, resolved)  # its validator is the scope's
        if settled is not None:
            outcome = with_ids(settled, resolved)
            return Judgement(key[0], association, outcome=outcome, warnings=warnings)
        return Judgement(key[0], association, pair=resolved, warnings=warnings)

    def _quick_path(self) -> tuple[str, Association, RowValidator] | None:
        """The scope of every row, when no row needs resolving (see ``_quick``)."""
        s = self.settings
        self._quick, self._quick_found = None, True
        if not self.per_row and self.plain_ids and not s.check_records:
            key = (s.location_id or "", s.association or "")
            association = self.associations.get(key)
            if association is not None:
                self._quick = (key[0], association, self.validator(key, association))
        return self._quick

    def resolve(
        self, location: str, validator: RowValidator, values: Pair, lookups: Lookups
    ) -> Pair | Outcome:
        """The ids to send for a row's two values, or the outcome that keeps it from sending."""
        if not self.settings.check_records and self.plain_ids:
            return values  # ids, not checked: nothing to resolve
        first, second = validator.sides
        found: list[str] = []
        problems: list[tuple[Status, Issue]] = []
        wrong = 0
        answer = lookups.answer
        for side, other, value in (
            (first, second, values.first_id),
            (second, first, values.second_id),
        ):
            if side.kind != ID:
                question = key_question(location, side.kind, side.object_key, side.prop, value)
                ids = answer(question)
                refusal = lookups.refused.get(question, "")
                problem = _key_problem(side, value, location, ids or (), refusal)
                found.append(ids[0] if ids and len(ids) == 1 else "")
            else:
                found.append(value)
                problem = None
                if self.settings.check_records:
                    problem = _record_problem(side, other, value, location, answer)
                    wrong += problem is not None and problem[1].code.endswith("_wrong_kind")
            if problem is not None:
                problems.append(problem)
        if not problems:
            return Pair(found[0], found[1])
        if wrong == 2:
            problems = [
                (
                    Status.INVALID,
                    Issue(
                        "pair_swapped",
                        f"the two ids are the wrong way round: {values.first_id} is a record "
                        f"of {second.label or second.object_key} and {values.second_id} one "
                        f"of {first.label or first.object_key}; swap them in the file",
                    ),
                )
            ]
        order = (Status.INVALID, Status.UNRESOLVED, Status.AMBIGUOUS)
        status, first_issue = min(problems, key=lambda problem: order.index(problem[0]))
        issues = [issue for _, issue in problems]
        return Outcome(
            status,
            error_code=first_issue.code,
            error="; ".join(issue.message for issue in issues),
            first_id=found[0],
            second_id=found[1],
        )

    def count_kinds(self, lookups: Lookups, asked: list[Question]) -> None:
        """Evidence of the records' kinds, per side, from the record checks answered: an id
        asked as its side's kind is ``ok`` when found, ``wrong`` when found as another kind."""
        roles = {
            (role, object_key)
            for association in filter(None, self.associations.values())
            for role, object_key in (
                ("first", association.first_object_key),
                ("second", association.second_object_key),
            )
        }
        kinds = self._kinds()
        for question in asked:
            kind = question.kind.removeprefix("record:")
            found = bool(lookups.answer(question))
            elsewhere = not found and any(
                lookups.answer(Question(question.location, other, question.key))
                for other in kinds.get((question.location, question.kind), ())
            )
            for role, object_key in roles:
                if object_key == kind and (found or elsewhere):
                    self.evidence.by_kind[f"{role} {'ok' if found else 'wrong'}"] += 1


def _key_problem(
    side: Side, value: str, location: str, ids: tuple[str, ...], refusal: str
) -> tuple[Status, Issue] | None:
    """The problem of a natural key that found no record (``refusal``: the API's reason, when
    it refused the look-up) or several; None when it found one."""
    what = side.prop if side.kind != "email" and side.kind != "phone" else side.kind
    label = side.label or side.object_key
    if len(ids) == 1:
        return None
    if not ids:
        why = f" (the API refused the look-up: {refusal})" if refusal else ""
        return Status.UNRESOLVED, Issue(
            f"{side.role}_unresolved",
            f"no {label} has the {what} {value} in location {location}{why} "
            f"(column '{side.column}'); fix the value or add the record, then re-run",
        )
    shown = ", ".join(ids[:3]) + (", ..." if len(ids) > 3 else "")
    return Status.AMBIGUOUS, Issue(
        f"{side.role}_ambiguous",
        f"{len(ids)} {label} records have the {what} {value} ({shown}); relimport never "
        f"guesses: put the record id in column '{side.column}' instead",
    )


def _record_problem(
    side: Side,
    other: Side,
    value: str,
    location: str,
    answer: Callable[[Question], tuple[str, ...] | None],
) -> tuple[Status, Issue] | None:
    if answer(record_question(location, side.object_key, value)) != ():
        return None  # found (or not asked: the API will say)
    label = side.label or side.object_key
    if other.object_key != side.object_key and answer(
        record_question(location, other.object_key, value)
    ):
        return Status.INVALID, Issue(
            f"{side.role}_record_wrong_kind",
            f"the id {value} in column '{side.column}' is a record of "
            f"{other.label or other.object_key} ({other.object_key}), not of {label} "
            f"({side.object_key}); "
            "check the column order",
        )
    return Status.INVALID, Issue(
        f"{side.role}_record_not_found",
        f"no {label} ({side.object_key}) record has the id {value} in location {location} "
        f"(column '{side.column}')",
    )


#: The id shapes (see validate.SHAPES) by length, each with a test in C string methods: the
#: survey classifies every cell, and a regex per cell would cost it more than reading does.
_SHAPES: dict[int, tuple[str, Callable[[str], bool]]] = {
    24: (SHAPES["business"][0].pattern, lambda v: not v.strip("0123456789abcdefABCDEF")),
    20: (SHAPES["contact"][0].pattern, lambda v: v.isascii() and v.isalnum()),
}


def id_shape(value: str) -> str:
    """The regex of the id shape this value has, or ''."""
    found = _SHAPES.get(len(value))
    return found[0] if found is not None and found[1](value) else ""


def _location_refused(location: str, column: str | None) -> Outcome:
    return Outcome(
        Status.NOT_SENT,
        error_code="location_refused",
        error=f"the token may not access location {location} (column '{column}'): not sent; "
        "fix the location, or give that location its token (token_env_by_location), and run "
        "the same command again",
    )


def _invalid(code: str, message: str) -> Outcome:
    return Outcome(Status.INVALID, error_code=code, error=message)


def with_ids(outcome: Outcome, pair: Pair) -> Outcome:
    return replace(outcome, first_id=pair.first_id, second_id=pair.second_id)
