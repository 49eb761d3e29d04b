"""Before any look-up: a custom object's property named in ``first_lookup`` or
``second_lookup`` must exist in the object's schema.

A wrong property would otherwise spend one look-up per row and leave every row unresolved.
One ``GET /objects/{key}`` per custom object and location tells; when that request is
refused (a token without ``objects/schema.readonly``, an API that does not serve it) the run
goes on without the check, with a notice: the check saves requests, it never costs the run.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from importer.api import Client, ObjectSchema, Retries, fetch_object_schema
from importer.config import Settings
from importer.errors import ApiError, AuthError, ConfigError, UnreachableError
from importer.models import Association
from importer.validate._check import Checks
from importer.validate._lookup import pool
from importer.validate._rows import PROPERTY, lookup_kind

__all__ = ["PropertyVerdict", "check_properties", "examine_properties"]


@dataclass(frozen=True, slots=True)
class PropertyVerdict:
    """One property lookup checked against its object's schema in one location.

    ``ok`` False: ``message`` says what is wrong and what to set; None: it could not be
    checked, and ``message`` says why; True: the property is there (no message)."""

    setting: str  # first_lookup or second_lookup: what the user sets to fix it
    location: str
    object_key: str
    prop: str
    ok: bool | None
    message: str


def _property_sides(
    settings: Settings, associations: Mapping[tuple[str, str], Association | None]
) -> dict[tuple[str, str, str, str], str]:
    """(setting, location, object key, property) -> the side's label, for every side whose
    lookup is a custom object's property."""
    # after --swap the association's first side is read from the second_* settings
    names = ("first_lookup", "second_lookup")[:: -1 if settings.swap else 1]
    (_, first), (_, second) = settings.sides()
    found: dict[tuple[str, str, str, str], str] = {}
    for (location, _), association in associations.items():
        if association is None:
            continue
        for setting, lookup, object_key, label in (
            (names[0], first, association.first_object_key, association.first_object_label),
            (names[1], second, association.second_object_key, association.second_object_label),
        ):
            kind = lookup_kind(lookup, object_key)
            if kind is not None and kind[0] == PROPERTY:
                found.setdefault((setting, location, object_key, kind[1]), label)
    return found


async def examine_properties(
    client: Client,
    retries: Retries,
    settings: Settings,
    associations: Mapping[tuple[str, str], Association | None],
) -> list[PropertyVerdict]:
    """Each property lookup against its object's schema: one request per object and location
    (``concurrency`` at a time, for a file of many locations). Raises only what stops a run
    anyway (no answer at all, a spent budget)."""
    sides = _property_sides(settings, associations)
    schemas: dict[tuple[str, str], ObjectSchema | str] = {}

    async def fetch(where: tuple[str, str]) -> None:
        schemas[where] = await _schema(client, retries, *where)

    await pool(sorted({(side[1], side[2]) for side in sides}), fetch, settings.concurrency)
    verdicts = []
    for (setting, location, object_key, prop), label in sorted(sides.items()):
        schema = schemas[location, object_key]
        if isinstance(schema, str):
            verdicts.append(PropertyVerdict(setting, location, object_key, prop, None, schema))
        elif schema.find(prop) is None:
            message = _wrong(setting, prop, schema, label or schema.label, location)
            verdicts.append(PropertyVerdict(setting, location, object_key, prop, False, message))
        else:
            verdicts.append(PropertyVerdict(setting, location, object_key, prop, True, ""))
    return verdicts


async def _schema(
    client: Client, retries: Retries, location: str, object_key: str
) -> ObjectSchema | str:
    """The schema, or why there is none to check against."""
    request = f"GET /objects/{object_key}"
    try:
        schema = await fetch_object_schema(client, location, object_key, retries)
    except UnreachableError:
        raise
    except AuthError as error:
        return (
            f"the API answered {error.status} to {request} (the token may lack the scope "
            "objects/schema.readonly)"
        )
    except ApiError as error:
        return f"the API answered {error.status} to {request}"
    return schema if schema is not None else f"the API's answer to {request} lists no properties"


def _wrong(setting: str, prop: str, schema: ObjectSchema, label: str, location: str) -> str:
    """What is wrong, the properties there are (as a lookup names them), and what to set."""
    listed = ", ".join(
        p.key if p.name.lower() == p.key.lower() else f"{p.key} ({p.name})"
        for p in schema.properties
    )
    guess = _closest(prop, schema)
    hint = f" Did you mean '{guess}'?" if guess else ""
    flag = "--" + setting.replace("_", "-")
    return (
        f"{setting} is '{prop}', but {label} ({schema.key}) has no property '{prop}' in "
        f"location {location}.{hint} Its properties: {listed}. Set {setting} in config.yaml, "
        f"or pass {flag}, to one of them."
    )


def _closest(prop: str, schema: ObjectSchema) -> str | None:
    """The property a misspelt or displayed name most likely means (key or label alike)."""

    def plain(text: str) -> str:
        return "_".join(text.lower().replace("-", " ").split())

    names: dict[str, str] = {}
    for p in schema.properties:
        names.setdefault(plain(p.key), p.key)
        names.setdefault(plain(p.name), p.key)
    found = difflib.get_close_matches(plain(prop), list(names), n=1, cutoff=0.6)
    return names[found[0]] if found else None


async def check_properties(
    client: Client, retries: Retries, checks: Checks, notice: Callable[[str], None]
) -> None:
    """Stop before any look-up (ConfigError, every wrong property at once) when a property
    lookup names no property of its object; ``notice`` what could not be checked. The
    associations are those of ``checks`` (found already)."""
    verdicts = await examine_properties(client, retries, checks.settings, checks.associations)
    where = checks.where
    wrong: dict[tuple[str, str, str], str] = {}
    for verdict in verdicts:
        if verdict.ok is None:
            notice(
                f"{where}: could not check that {verdict.object_key} has the property "
                f"'{verdict.prop}' ({verdict.setting}): {verdict.message}; the run goes on "
                "without the check."
            )
        elif not verdict.ok:  # once per property, whatever the number of locations
            wrong.setdefault((verdict.setting, verdict.object_key, verdict.prop), verdict.message)
    if wrong:
        raise ConfigError("\n".join(wrong.values()))
