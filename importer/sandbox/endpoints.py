"""What the endpoints do: one pure function per route, over one location's state.

Each handler gets a :class:`Call` whose location has already been authorised, budgeted and
validated (required query parameters and body fields, see ``routes.py``), and returns
``(status, body)`` or raises :class:`HttpError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from importer.sandbox.seed import AssociationDef, ObjectDef, Record

Json = Any


class HttpError(Exception):
    """An error answer: ``message`` is a string, or a list of strings on a 422."""

    def __init__(self, status: int, message: str | list[str]) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class LocationState:
    """The mutable content of one location. Guarded by the sandbox's lock."""

    id: str
    associations: dict[str, AssociationDef] = field(default_factory=dict)
    records: dict[str, dict[str, Record]] = field(
        default_factory=dict
    )  # object key -> id -> record
    relations: dict[str, dict[str, str]] = field(default_factory=dict)  # id -> relation, in order
    pairs: dict[tuple[str, str, str], str] = field(default_factory=dict)  # -> relation id
    objects: dict[str, ObjectDef] = field(default_factory=dict)  # custom objects by key

    def association(self, id_or_key: str) -> AssociationDef | None:
        """By id; system associations' ids are also their keys, so this finds them by key too."""
        return self.associations.get(id_or_key)

    def record(self, object_key: str, record_id: str) -> Record | None:
        return self.records.get(object_key, {}).get(record_id)

    def add_relation(self, relation: dict[str, str]) -> None:
        self.relations[relation["id"]] = relation
        key = (relation["associationId"], relation["firstRecordId"], relation["secondRecordId"])
        self.pairs[key] = relation["id"]


@dataclass(frozen=True, slots=True)
class Call:
    """One validated request, addressed to one location."""

    location: LocationState
    params: Mapping[str, str]
    query: Mapping[str, list[str]]
    body: Mapping[str, Json]
    new_id: Callable[[], str]

    def first(self, name: str) -> str:
        return self.query.get(name, [""])[0]


Handler = Callable[[Call], tuple[int, Json]]


def association_json(a: AssociationDef, location_id: str) -> dict[str, Json]:
    return {
        "id": a.id,
        "key": a.key,
        "locationId": location_id,
        "firstObjectKey": a.first_object_key,
        "firstObjectLabel": a.first_object_label,
        "secondObjectKey": a.second_object_key,
        "secondObjectLabel": a.second_object_label,
        "associationType": a.association_type,
        "firstObjectToSecondObjectCardinality": a.first_to_second,
        "secondObjectToFirstObjectCardinality": a.second_to_first,
    }


def record_json(r: Record, location_id: str) -> dict[str, Json]:
    return {"id": r.id, "locationId": location_id, **r.fields}


def _page(items: list[Json], call: Call) -> list[Json]:
    skip, limit = int(call.first("skip")), int(call.first("limit"))
    return items[skip : skip + limit]


def _association_or_404(call: Call, id_or_key: str) -> AssociationDef:
    found = call.location.association(id_or_key)
    if found is None:
        raise HttpError(404, f"Association not found: {id_or_key}")
    return found


def list_associations(call: Call) -> tuple[int, Json]:
    items = [association_json(a, call.location.id) for a in call.location.associations.values()]
    return 200, {"associations": _page(items, call), "total": len(items)}


def get_association(call: Call) -> tuple[int, Json]:
    return 200, association_json(
        _association_or_404(call, call.params["associationId"]), call.location.id
    )


def get_association_by_key(call: Call) -> tuple[int, Json]:
    key = call.params["key_name"]
    for a in call.location.associations.values():
        if a.key == key:
            return 200, association_json(a, call.location.id)
    raise HttpError(404, f"Association not found: {key}")


def get_associations_by_object_key(call: Call) -> tuple[int, Json]:
    key = call.params["objectKey"]
    found = [
        association_json(a, call.location.id)
        for a in call.location.associations.values()
        if key in (a.first_object_key, a.second_object_key)
    ]
    return 200, found


def create_relation(call: Call) -> tuple[int, Json]:
    loc, body = call.location, call.body
    association = loc.association(body["associationId"])
    if association is None:
        raise HttpError(400, f"Association {body['associationId']} not found")
    for side, object_key in (
        ("firstRecordId", association.first_object_key),
        ("secondRecordId", association.second_object_key),
    ):
        if loc.record(object_key, body[side]) is None:
            raise HttpError(400, f"Record {body[side]} not found for object key {object_key}")
    pair = (association.id, body["firstRecordId"], body["secondRecordId"])
    if pair in loc.pairs:
        raise HttpError(
            400,
            "Could not create relation: duplicate relation of object Ids for given association "
            + association.id,
        )
    relation = {
        "id": call.new_id(),
        "associationId": association.id,
        "firstRecordId": pair[1],
        "secondRecordId": pair[2],
        "firstObjectKey": association.first_object_key,
        "secondObjectKey": association.second_object_key,
        "locationId": loc.id,
    }
    loc.add_relation(relation)
    return 201, dict(relation)


def list_relations(call: Call) -> tuple[int, Json]:
    record_id = call.params["recordId"]
    wanted = set(call.query.get("associationIds", []) + call.query.get("associationIds[]", []))
    items = [
        dict(r)
        for r in call.location.relations.values()
        if record_id in (r["firstRecordId"], r["secondRecordId"])
        and (not wanted or r["associationId"] in wanted)
    ]
    return 200, {"relations": _page(items, call), "total": len(items)}


def delete_relation(call: Call) -> tuple[int, Json]:
    loc, relation_id = call.location, call.params["relationId"]
    relation = loc.relations.pop(relation_id, None)
    if relation is None:
        raise HttpError(404, f"Relation not found: {relation_id}")
    del loc.pairs[
        (relation["associationId"], relation["firstRecordId"], relation["secondRecordId"])
    ]
    return 200, {"deleted": True, "id": relation_id}


def get_record(object_key: str, envelope: str, param: str, label: str) -> Handler:
    """A handler answering `{envelope: record}` for the record whose id is path `param`."""

    def handler(call: Call) -> tuple[int, Json]:
        record = call.location.record(object_key, call.params[param])
        if record is None:
            raise HttpError(404, f"{label} not found: {call.params[param]}")
        return 200, {envelope: record_json(record, call.location.id)}

    return handler


def find_duplicate_contact(call: Call) -> tuple[int, Json]:
    """By email (case-insensitive) first, then by phone number (exact)."""
    email, number = call.first("email").strip().lower(), call.first("number").strip()
    contacts = list(call.location.records.get("contact", {}).values())
    by_email = [c for c in contacts if email and str(c.fields.get("email", "")).lower() == email]
    by_phone = [c for c in contacts if number and str(c.fields.get("phone", "")) == number]
    found = [record_json(c, call.location.id) for c in by_email or by_phone]
    return 200, {"contact": found[0] if found else None}


#: Fields a contact search filters on, and how a contact's value is compared with the filter's.
_CONTACT_FILTERS: dict[str, Callable[[str], str]] = {
    "email": lambda value: value.strip().lower(),
    "phone": lambda value: value.strip(),
}


def search_contacts(call: Call) -> tuple[int, Json]:
    """``filters: [{field, operator: "eq", value}]`` on email (ignoring case) or phone (exact),
    every filter to match; a page of ``{contacts, total}``."""
    filters = call.body.get("filters") or []
    if not isinstance(filters, list) or not all(
        isinstance(f, Mapping)
        and f.get("field") in _CONTACT_FILTERS
        and f.get("operator") == "eq"
        and isinstance(f.get("value"), str)
        for f in filters
    ):
        raise HttpError(
            422, ["filters must be a list of {field: email|phone, operator: eq, value: string}"]
        )

    def matches(contact: Record) -> bool:
        return all(
            _CONTACT_FILTERS[f["field"]](str(contact.fields.get(f["field"], "")))
            == _CONTACT_FILTERS[f["field"]](f["value"])
            for f in filters
        )

    contacts = call.location.records.get("contact", {}).values()
    found = [record_json(c, call.location.id) for c in contacts if matches(c)]
    page, size = int(call.body["page"]), int(call.body["pageLimit"])
    return 200, {"contacts": found[(page - 1) * size : page * size], "total": len(found)}


def get_custom_record(call: Call) -> tuple[int, Json]:
    schema, record_id = call.params["schemaKey"], call.params["id"]
    record = call.location.record(schema, record_id)
    if record is None:
        raise HttpError(404, f"Record not found: {record_id}")
    return 200, {"record": record_json(record, call.location.id)}


def search_custom_records(call: Call) -> tuple[int, Json]:
    query = str(call.body.get("query") or "").strip().lower()
    prop, _, value = query.partition(":") if ":" in query else ("", "", query)

    def matches(r: Record) -> bool:
        props = r.fields.get("properties", {})
        assert isinstance(props, Mapping)
        texts = [str(v).lower() for k, v in props.items() if not prop or k.lower() == prop]
        return not value or any(value in t for t in texts)

    records = call.location.records.get(call.params["schemaKey"], {}).values()
    found = [record_json(r, call.location.id) for r in records if matches(r)]
    page, size = int(call.body["page"]), int(call.body["pageLimit"])
    return 200, {"records": found[(page - 1) * size : page * size], "total": len(found)}


#: The date every seeded schema says it was added and updated (the seed has no history).
SEEDED_AT = "2025-01-01T00:00:00.000Z"


def get_object_schema(call: Call) -> tuple[int, Json]:
    """A custom object's schema by key or id; its properties as ``fields`` when
    ``fetchProperties`` is ``true``. Standard objects' schemas are not served (404)."""
    key, location = call.params["key"], call.location
    found = location.objects.get(key) or next(
        (o for o in location.objects.values() if o.id == key), None
    )
    if found is None:
        raise HttpError(404, f"Object not found: {key}")
    primary = found.properties[0].key if found.properties else "name"
    body: dict[str, Json] = {
        "object": {
            "id": found.id,
            "standard": False,
            "key": found.key,
            "labels": {"singular": found.singular, "plural": found.plural},
            "locationId": location.id,
            "primaryDisplayProperty": f"{found.key}.{primary}",
            "dateAdded": SEEDED_AT,
            "dateUpdated": SEEDED_AT,
        },
        "cache": False,
    }
    if call.first("fetchProperties").lower() == "true":
        body["fields"] = [
            {
                "id": f"{found.id[:20]}{n:04x}",
                "name": prop.name,
                "fieldKey": f"{found.key}.{prop.key}",
                "objectKey": found.key,
                "dataType": prop.data_type,
                "locationId": location.id,
                "parentId": found.id,
                "showInForms": True,
                "dateAdded": SEEDED_AT,
                "dateUpdated": SEEDED_AT,
            }
            for n, prop in enumerate(found.properties, start=1)
        ]
    return 200, body
