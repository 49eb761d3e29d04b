"""A custom object's schema: its label and properties, as ``GET /objects/{key}`` describes
them (with ``fetchProperties``), so that a property named in ``first_lookup`` or
``second_lookup`` can be checked before a look-up is spent on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from importer.api._client import Client
from importer.api._retries import Retries


@dataclass(frozen=True, slots=True)
class ObjectProperty:
    """One property: ``key`` as records hold it and a lookup names it (``student_email``),
    ``name`` as the CRM shows it (``Student email``)."""

    key: str
    name: str


@dataclass(frozen=True, slots=True)
class ObjectSchema:
    """A custom object's label and properties."""

    key: str
    label: str
    properties: tuple[ObjectProperty, ...]

    def find(self, prop: str) -> ObjectProperty | None:
        """The property a lookup names, ignoring case as the look-ups do."""
        wanted = prop.lower()
        return next((p for p in self.properties if p.key.lower() == wanted), None)


async def fetch_object_schema(
    client: Client, location_id: str, object_key: str, retries: Retries
) -> ObjectSchema | None:
    """The object's schema, retried like any request; None when the answer lists no
    properties (nothing to check against). Raises the client's errors as they come."""

    async def fetch() -> Any:
        return await client.get_object_schema(location_id, object_key)

    return read_schema(await retries(fetch), object_key)


def read_schema(body: Any, object_key: str) -> ObjectSchema | None:
    """The schema in an answer of ``GET /objects/{key}``. A field's key is the text after the
    last dot of its ``fieldKey`` (the spec writes both ``custom_objects.pet.name`` and
    ``custom_object.pet.name``): the name records use in their ``properties``."""
    if not isinstance(body, Mapping):
        return None
    fields = body.get("fields")
    if not isinstance(fields, list):
        return None
    properties = []
    for item in fields:
        if isinstance(item, Mapping) and isinstance(item.get("fieldKey"), str):
            key = item["fieldKey"].rpartition(".")[2]
            if key:
                properties.append(ObjectProperty(key, str(item.get("name") or key)))
    if not properties:
        return None
    found = body.get("object")
    labels = found.get("labels") if isinstance(found, Mapping) else None
    label = labels.get("singular") if isinstance(labels, Mapping) else None
    return ObjectSchema(object_key, str(label or ""), tuple(properties))
