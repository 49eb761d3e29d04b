"""``relimport init``: a commented ``config.yaml`` for a real account, guessed from the input.

The guess reads the header and the first rows of the input (:func:`sample_columns`), then
matches each column's ids against the usual id shapes of the association's two sides
(:func:`propose`): a column whose first 20 non-blank values are all 24 hexadecimal characters
fits a custom object or a company, one of 20 letters and digits a contact or an opportunity.
Where several associations or columns fit, the ones whose column names mention their side
("Student ID" for a side labelled Student) come first. Shapes are hints, never proof: the
person running ``init`` confirms or overrides every guess.

:func:`render_config` writes every setting with its description as a comment (from the
settings model) and each value quoted by YAML's own dumper; the token is never a setting.
"""

from __future__ import annotations

import difflib
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import httpx
import yaml

from importer.api import ObjectSchema, fetch_association, fetch_object_schema
from importer.config import Settings, describe_settings
from importer.errors import ApiError, ConfigError, UnreachableError
from importer.models import Association
from importer.read import open_table
from importer.setup._doctor import session
from importer.validate import is_email, is_phone, shape_of

__all__ = [
    "API_URL",
    "Proposal",
    "Samples",
    "best",
    "fetch_associations",
    "fetch_schema",
    "fits",
    "holds_ids",
    "propose",
    "propose_lookup",
    "propose_property",
    "refusal",
    "render_config",
    "sample_columns",
    "write_config",
]

API_URL = "https://services.leadconnectorhq.com"
#: Non-blank values per column that must all fit a side's id shape.
SAMPLE = 20
#: Rows read at most to find them (a column mostly blank is not worth the whole file).
MAX_ROWS = 1_000


def propose_lookup(values: tuple[str, ...], object_key: str) -> str:
    """What a column holds, from its first values: ``email`` or ``phone`` for a contacts'
    column whose values are mostly e-mail addresses or phone numbers (a few malformed ones are
    the validator's to report), else ``id``."""
    if object_key != "contact" or not values:
        return "id"
    for lookup, fits in (("email", is_email), ("phone", is_phone)):
        if sum(map(fits, values)) * 2 > len(values):
            return lookup
    return "id"


def holds_ids(values: tuple[str, ...], object_key: str) -> bool:
    """Whether most of a column's first values have the usual id shape of ``object_key``."""
    shape = shape_of(object_key)
    return shape is None or sum(bool(shape[0].fullmatch(v)) for v in values) * 2 > len(values)


def propose_property(column: str, schema: ObjectSchema) -> str | None:
    """The custom object's property a column's title names ("Student email" ->
    ``student_email``; "Email" -> ``student_email`` when it is the only one ending so), or
    None when no property's name or label is close enough to say."""

    def plain(text: str) -> str:
        return "_".join("".join(c if c.isalnum() else " " for c in text.casefold()).split())

    title = plain(column)
    names = {plain(p.key): p.key for p in schema.properties}
    names.update({plain(p.name): p.key for p in schema.properties if plain(p.name) not in names})
    if title in names:
        return names[title]
    endings = {key for name, key in names.items() if name.endswith("_" + title)}
    if len(endings) == 1:
        return endings.pop()
    close = difflib.get_close_matches(title, list(names), n=1, cutoff=0.75)
    return names[close[0]] if close else None


@dataclass(frozen=True, slots=True)
class Samples:
    """The input's header and, per column, its first non-blank values (up to SAMPLE)."""

    header: tuple[str, ...]
    values: Mapping[str, tuple[str, ...]]


@dataclass(frozen=True, slots=True)
class Proposal:
    """An association and the two columns that hold its first and second record ids."""

    association: Association
    first_column: str
    second_column: str
    #: How many of the two column names mention their side (label or object key).
    named: int


def sample_columns(path: Path, *, sheet: str | None = None, encoding: str | None = None) -> Samples:
    """Read the header and the first non-blank values of every column (InputError if unusable)."""
    with open_table(path, sheet=sheet, encoding=encoding) as table:
        found: list[list[str]] = [[] for _ in table.header]
        for row in islice(table.rows, MAX_ROWS):
            for values, cell in zip(found, row.cells, strict=False):
                if cell and len(values) < SAMPLE:
                    values.append(cell)
            if all(len(values) >= SAMPLE for values in found):
                break
        return Samples(
            table.header, {name: tuple(v) for name, v in zip(table.header, found, strict=True)}
        )


def fits(values: Sequence[str], object_key: str) -> bool:
    """True when there are values and every one has the usual id shape of ``object_key``."""
    shape = shape_of(object_key)
    return shape is not None and bool(values) and all(shape[0].fullmatch(v) for v in values)


def propose(
    samples: Samples,
    associations: Iterable[Association],
    *,
    first_column: str | None = None,
    second_column: str | None = None,
) -> list[Proposal]:
    """Every association and pair of columns whose ids fit the two sides, best named first.

    A column given by the user is taken whatever its ids look like. A side no column holds
    ids of takes the columns of natural keys it can be looked up by: e-mail addresses or
    phone numbers of contacts, or a custom object's property named in the column's title
    with the side's label ("Student email"); ``_choose_property`` then names the property.
    """

    def columns(given: str | None, object_key: str, label: str) -> list[str]:
        if given is not None:
            return [given]
        values = samples.values
        ids = [name for name in samples.header if fits(values[name], object_key)]
        return ids or [
            name for name in samples.header if _holds_keys(name, values[name], object_key, label)
        ]

    found = [
        Proposal(
            association,
            first,
            second,
            _mentions(first, association.first_object_label, association.first_object_key)
            + _mentions(second, association.second_object_label, association.second_object_key),
        )
        for association in associations
        for first in columns(
            first_column, association.first_object_key, association.first_object_label
        )
        for second in columns(
            second_column, association.second_object_key, association.second_object_label
        )
        if first != second
    ]
    return sorted(found, key=lambda proposal: -proposal.named)  # stable: listing order next


def best(proposals: Sequence[Proposal]) -> Proposal | None:
    """The one proposal better named than every other, if there is one."""
    if len(proposals) == 1 or (proposals and proposals[0].named > proposals[1].named):
        return proposals[0]
    return None


def _holds_keys(column: str, values: tuple[str, ...], object_key: str, label: str) -> bool:
    """Whether a column holds natural keys of the side (see :func:`propose`)."""
    if not values:
        return False
    if object_key == "contact":
        return propose_lookup(values, object_key) != "id"
    return (
        object_key.startswith("custom_objects.")
        and not holds_ids(values, object_key)
        and bool(_mentions(column, label, object_key))
    )


def _mentions(column: str, label: str, object_key: str) -> int:
    """1 when the column's name contains the side's label or object name ("Student ID")."""
    name = column.casefold()
    words = {label.casefold(), object_key.rsplit(".", 1)[-1].casefold()}
    words |= {word.removesuffix("s") for word in words}
    return int(any(len(word) >= 3 and word in name for word in words))


async def fetch_associations(
    settings: Settings, transport: httpx.AsyncBaseTransport | None = None
) -> tuple[list[Association], Association | None]:
    """The location's associations, and the configured one (ConfigError if it is not there).

    The configured one is looked up as a run does when the listing lacks it.
    """
    location = settings.location_id or ""
    async with session(settings, transport=transport) as open_session:
        known = await open_session.associations(location)
        key = settings.association
        if not key:
            return known, None
        chosen = next((a for a in known if key in (a.key, a.id)), None)
        if chosen is None:
            chosen = await fetch_association(
                open_session.client, location, key, open_session.retries
            )
        return known, chosen


async def fetch_schema(
    settings: Settings, object_key: str, transport: httpx.AsyncBaseTransport | None = None
) -> ObjectSchema | None:
    """The custom object's schema, or None when the API does not give it (init then proposes
    no property: it is a guess, never a reason to stop)."""
    async with session(settings, transport=transport) as open_session:
        try:
            return await fetch_object_schema(
                open_session.client, settings.location_id or "", object_key, open_session.retries
            )
        except UnreachableError:
            raise
        except ApiError:
            return None


_PREAMBLE = """\
# relimport configuration, written by `relimport init`.
# Precedence: command-line flag > environment variable > this file > default.
# The token is never read from this file: put it in the environment variable named by
# token_env. Check everything with `relimport doctor`, then `relimport validate INPUT`.
"""


def render_config(settings: Settings) -> str:
    """The YAML text of ``settings``: every key with its description, unset ones commented."""
    values = settings.model_dump(mode="json")
    lines = [_PREAMBLE.rstrip("\n")]
    section = ""
    for key, _, variable, description in describe_settings():
        parent, _, name = key.rpartition(".")
        indent = "  " if parent else ""
        if not parent or parent != section:
            lines.append("")
        if parent and parent != section:
            lines.append(f"{parent}:")
        section = parent
        comment = description + (f" Environment variable: {variable}." if variable else "")
        lines += textwrap.wrap(
            comment, 96, initial_indent=f"{indent}# ", subsequent_indent=f"{indent}# "
        )
        value = _lookup(values, key)
        if value is None:
            lines.append(f"{indent}# {name}:")
            continue
        text = yaml.safe_dump({name: value}, allow_unicode=True, width=2**31, sort_keys=False)
        lines += [indent + line for line in text.splitlines()]
    return "\n".join(lines) + "\n"


def _lookup(values: Mapping[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        values = values[part]
    return values


def write_config(path: Path, text: str, *, force: bool = False) -> None:
    """Write ``text`` to ``path``; an existing file only with ``force`` (ConfigError)."""
    try:
        with path.open("w" if force else "x", encoding="utf-8") as file:
            file.write(text)
    except FileExistsError:
        raise ConfigError(refusal(path)) from None
    except OSError as error:
        raise ConfigError(
            f"{path}: the config file cannot be written there ({error.strerror}). "
            "Choose another --out."
        ) from None


def refusal(path: Path) -> str:
    """Why an existing config file stays as it is."""
    return (
        f"{path}: a file is already there and is never overwritten. Choose another --out, "
        "move the old file away, or pass --force to replace it."
    )
