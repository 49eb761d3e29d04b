"""The route table: each endpoint's template, scope, required parameters and handler.

Templates are the spec's (``"GET /associations/relations/{recordId}"``), so statistics are
keyed by them and the contract test can compare each route with the OpenAPI file.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from importer.sandbox.endpoints import (
    Handler,
    HttpError,
    LocationState,
    create_relation,
    delete_relation,
    find_duplicate_contact,
    get_association,
    get_association_by_key,
    get_associations_by_object_key,
    get_custom_record,
    get_object_schema,
    get_record,
    list_associations,
    list_relations,
    search_contacts,
    search_custom_records,
)


@dataclass(frozen=True, slots=True)
class Route:
    """One endpoint: what it needs before its handler may run."""

    template: str  # "METHOD /path/{param}", as in the spec
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
    def method(self) -> str:
        return self.template.split(" ", 1)[0]

    @property
    def is_create(self) -> bool:
        return self.template == "POST /associations/relations"


def _has(object_key: str, param: str) -> Callable[[LocationState, Mapping[str, str]], bool]:
    return lambda loc, params: loc.record(object_key, params[param]) is not None


_READ = "associations.readonly"
_REL_READ = "associations/relation.readonly"
_REL_WRITE = "associations/relation.write"
_PAGED = ("locationId", "skip", "limit")
_COUNTS = ("skip", "limit")
_RELATION_BODY = ("locationId", "associationId", "firstRecordId", "secondRecordId")

ROUTES: tuple[Route, ...] = (
    Route("GET /associations/", _READ, list_associations, _PAGED, _COUNTS),
    Route("GET /associations/key/{key_name}", _READ, get_association_by_key, ("locationId",)),
    Route("GET /associations/objectKey/{objectKey}", _READ, get_associations_by_object_key),
    Route("POST /associations/relations", _REL_WRITE, create_relation, body=_RELATION_BODY),
    Route("GET /associations/relations/{recordId}", _REL_READ, list_relations, _PAGED, _COUNTS),
    Route(
        "DELETE /associations/relations/{relationId}",
        _REL_WRITE,
        delete_relation,
        ("locationId",),
        owner=lambda loc, p: p["relationId"] in loc.relations,
    ),
    Route(
        "GET /associations/{associationId}",
        _READ,
        get_association,
        owner=lambda loc, p: loc.association(p["associationId"]) is not None,
    ),
    Route(
        "GET /contacts/search/duplicate",
        "contacts.readonly",
        find_duplicate_contact,
        ("locationId",),
    ),
    Route(
        "POST /contacts/search",
        "contacts.readonly",
        search_contacts,
        body=("locationId",),
        numbers=("page", "pageLimit"),
    ),
    Route(
        "GET /contacts/{contactId}",
        "contacts.readonly",
        get_record("contact", "contact", "contactId", "Contact"),
        owner=_has("contact", "contactId"),
    ),
    Route(
        "POST /objects/{schemaKey}/records/search",
        "objects/record.readonly",
        search_custom_records,
        body=("locationId",),
        numbers=("page", "pageLimit"),
    ),
    Route(
        "GET /objects/{schemaKey}/records/{id}",
        "objects/record.readonly",
        get_custom_record,
        owner=lambda loc, p: loc.record(p["schemaKey"], p["id"]) is not None,
    ),
    Route(
        "GET /objects/{key}",
        "objects/schema.readonly",
        get_object_schema,
        ("locationId",),
    ),
    Route(
        "GET /opportunities/{id}",
        "opportunities.readonly",
        get_record("opportunity", "opportunity", "id", "Opportunity"),
        owner=_has("opportunity", "id"),
    ),
    Route(
        "GET /businesses/{businessId}",
        "businesses.readonly",
        get_record("business", "business", "businessId", "Business"),
        owner=_has("business", "businessId"),
    ),
)


def match(method: str, path: str) -> tuple[Route, dict[str, str]] | None:
    """The first route answering ``method path`` (specific paths come first), with its params."""
    for route in ROUTES:
        found = route.pattern.match(path)
        if found and route.method == method:
            return route, found.groupdict()
    return None


_LEAST = {"skip": 0, "limit": 1}


def validate(route: Route, query: Mapping[str, list[str]], body: Mapping[str, Any]) -> None:
    """Raise the 422 listing every missing or malformed parameter, as class-validator does."""
    problems: list[str] = []
    for name in route.query:
        value = query.get(name, [None])[0]
        if value is None:
            problems.append(f"{name} must be a string")
        elif not value.strip():
            problems.append(f"{name} should not be empty")
        elif name in route.counts and not (value.isdigit() and int(value) >= _LEAST[name]):
            problems.append(f"{name} must be an integer of at least {_LEAST[name]}")
    for name in route.body:
        value = body.get(name)
        if not isinstance(value, str):
            problems.append(f"{name} must be a string")
        elif not value.strip():
            problems.append(f"{name} should not be empty")
    for name in route.numbers:
        value = body.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            problems.append(f"{name} must be an integer of at least 1")
    if problems:
        raise HttpError(422, problems)
