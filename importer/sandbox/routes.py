"""The endpoints of the sandbox: one pure function per route, over one location's state.

Each handler gets a :class:`Call` whose location has already been authorised, budgeted and
validated (required query parameters and body fields), and returns ``(status, body)`` or
raises :class:`HttpError`. Route templates are the spec's, so statistics can be keyed by them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from importer.sandbox.seed import AssociationDef, Record

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
    records: dict[str, dict[str, Record]] = field(default_factory=dict)  # object key -> id -> record
    relations: dict[str, dict[str, str]] = field(default_factory=dict)  # id -> relation, in order
    pairs: dict[tuple[str, str, str], str] = field(default_factory=dict)  # -> relation id

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


@dataclass(frozen=True, slots=True)
class Route:
    """One endpoint: what it needs before its handler may run."""

    method: str
    template: str
    scope: str
    handler: Handler
    query: tuple[str, ...] = ()  # required, non-empty query parameters
    counts: tuple[str, ...] = ()  # of those, the ones that must be integers (skip, limit)
    body: tuple[str, ...] = ()  # required string fields of the JSON body
    numbers: tuple[str, ...] = ()  # required positive integer fields of the JSON body
    owner: Callable[[LocationState, Mapping[str, str]], bool] | None = None  # entity lives here?
    pattern: re.Pattern[str] = field(init=False)

    def __post_init__(self) -> None:
        path = self.template.split(" ", 1)[1]
        regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(path.rstrip("/")))
        object.__setattr__(self, "pattern", re.compile(f"^{regex}/?$"))

    @property
    def is_create(self) -> bool:
        return self.template == "POST /associations/relations"


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
    return 200, association_json(_association_or_404(call, call.params["associationId"]), call.location.id)


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
    del loc.pairs[(relation["associationId"], relation["firstRecordId"], relation["secondRecordId"])]
    return 200, {"deleted": True, "id": relation_id}


def _record_getter(object_key: str, envelope: str, param: str, label: str) -> Handler:
    def handler(call: Call) -> tuple[int, Json]:
        record = call.location.record(object_key, call.params[param])
        if record is None:
            raise HttpError(404, f"{label} not found: {call.params[param]}")
        return 200, {envelope: record_json(record, call.location.id)}

    return handler


def find_duplicate_contact(call: Call) -> tuple[int, Json]:
    email, number = call.first("email").strip().lower(), call.first("number").strip()
    contacts = list(call.location.records.get("contact", {}).values())
    for wanted, matches in (
        (email, lambda r: str(r.fields.get("email", "")).lower() == email),
        (number, lambda r: str(r.fields.get("phone", "")) == number),
    ):
        for contact in contacts:
            if wanted and matches(contact):
                return 200, {"contact": record_json(contact, call.location.id)}
    return 200, {"contact": None}


def get_custom_record(call: Call) -> tuple[int, Json]:
    schema, record_id = call.params["schemaKey"], call.params["id"]
    record = call.location.record(schema, record_id)
    if record is None:
        raise HttpError(404, f"Record not found: {record_id}")
    return 200, {"record": record_json(record, call.location.id)}


def search_custom_records(call: Call) -> tuple[int, Json]:
    schema, query = call.params["schemaKey"], str(call.body.get("query") or "").strip().lower()
    prop, _, value = query.partition(":") if ":" in query else ("", "", query)

    def matches(r: Record) -> bool:
        props = r.fields.get("properties", {})
        assert isinstance(props, dict)
        texts = [str(v).lower() for k, v in props.items() if not prop or k.lower() == prop]
        return not value or any(value in t for t in texts)

    found = [record_json(r, call.location.id) for r in call.location.records.get(schema, {}).values()]
    found = [f for f, r in zip(found, call.location.records.get(schema, {}).values()) if matches(r)]
    page, size = int(call.body["page"]), int(call.body["pageLimit"])
    return 200, {"records": found[(page - 1) * size : page * size], "total": len(found)}


def _has(object_key: str, param: str) -> Callable[[LocationState, Mapping[str, str]], bool]:
    return lambda loc, params: loc.record(object_key, params[param]) is not None


_READ, _REL_READ, _REL_WRITE = "associations.readonly", "associations/relation.readonly", (
    "associations/relation.write"
)
_PAGED = {"query": ("locationId", "skip", "limit"), "counts": ("skip", "limit")}

ROUTES: tuple[Route, ...] = (
    Route("GET /associations/", _READ, list_associations, **_PAGED),  # type: ignore[arg-type]
    Route("GET /associations/key/{key_name}", _READ, get_association_by_key, ("locationId",)),
    Route("GET /associations/objectKey/{objectKey}", _READ, get_associations_by_object_key),
    Route("POST /associations/relations", _REL_WRITE, create_relation,
          body=("locationId", "associationId", "firstRecordId", "secondRecordId")),
    Route("GET /associations/relations/{recordId}", _REL_READ, list_relations, **_PAGED),  # type: ignore[arg-type]
    Route("DELETE /associations/relations/{relationId}", _REL_WRITE, delete_relation,
          ("locationId",), owner=lambda loc, p: p["relationId"] in loc.relations),
    Route("GET /associations/{associationId}", _READ, get_association,
          owner=lambda loc, p: loc.association(p["associationId"]) is not None),
    Route("GET /contacts/search/duplicate", "contacts.readonly", find_duplicate_contact,
          ("locationId",)),
    Route("GET /contacts/{contactId}", "contacts.readonly",
          _record_getter("contact", "contact", "contactId", "Contact"),
          owner=_has("contact", "contactId")),
    Route("POST /objects/{schemaKey}/records/search", "objects/record.readonly",
          search_custom_records, body=("locationId",), numbers=("page", "pageLimit")),
    Route("GET /objects/{schemaKey}/records/{id}", "objects/record.readonly", get_custom_record,
          owner=lambda loc, p: loc.record(p["schemaKey"], p["id"]) is not None),
    Route("GET /opportunities/{id}", "opportunities.readonly",
          _record_getter("opportunity", "opportunity", "id", "Opportunity"),
          owner=_has("opportunity", "id")),
    Route("GET /businesses/{businessId}", "businesses.readonly",
          _record_getter("business", "business", "businessId", "Business"),
          owner=_has("business", "businessId")),
)  # fmt: skip
