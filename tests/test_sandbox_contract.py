"""The sandbox against the official OpenAPI file of the associations API.

The spec is the contract for paths, methods, scopes, required parameters and body fields, and
the association object. Two known faults of the spec are handled here, on purpose:

* its relation responses (create, list, delete) reuse the *association* schema, which is
  wrong: relation bodies are checked against the shape in the API notes instead (README 2),
  and a test asserts that the spec's schema still rejects them, so a corrected spec shows up;
* its association schema types the keys and labels as ``object`` while its own examples (and
  the real API) use strings: those properties are read as strings before validating.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jsonschema  # type: ignore[import-untyped]
import pytest

from importer.sandbox import (
    DEMO_LOCATION,
    DEMO_TOKEN,
    STUDENT_TEACHER_ID,
    STUDENTS_KEY,
    Answer,
    Sandbox,
    student_id,
    teacher_id,
)
from importer.sandbox.routes import ROUTES, Route

SPEC_DIR = Path(__file__).resolve().parent / "contract"  # vendored: the tests always run
SHARED_DIR = Path(__file__).resolve().parents[2] / "shared" / "api" / "openapi"

SPEC = json.loads((SPEC_DIR / "associations.json").read_text())
COMMON = json.loads((SPEC_DIR / "common__common-schemas.json").read_text())
COMMON_REF = "../common/common-schemas.json"
ASSOCIATION_ROUTES = [r for r in ROUTES if r.template.split(" ")[1].startswith("/associations")]

#: Relations as the API notes describe them (the webhook payload), since the spec is wrong.
RELATION_FIELDS = ("id", "associationId", "firstRecordId", "secondRecordId", "firstObjectKey",
                   "secondObjectKey", "locationId")  # fmt: skip
RELATION_SCHEMA = {
    "type": "object",
    "required": list(RELATION_FIELDS),
    "properties": {name: {"type": "string", "minLength": 1} for name in RELATION_FIELDS},
}

# Values that satisfy every route, so that leaving one out is the only problem.
PATH_VALUES = {
    "associationId": STUDENT_TEACHER_ID,
    "key_name": "student_teacher",
    "objectKey": "contact",
    "recordId": teacher_id(1),
    "relationId": "67d000000000000000000001",
}
QUERY_VALUES = {"locationId": DEMO_LOCATION, "skip": "0", "limit": "10"}
BODY_VALUES = {
    "locationId": DEMO_LOCATION,
    "associationId": STUDENT_TEACHER_ID,
    "firstRecordId": student_id(5),
    "secondRecordId": teacher_id(5),
}


def resolve(node: Any, document: dict[str, Any]) -> Any:
    """``node`` with every ``$ref`` replaced by its target (local, or the common file's)."""
    if isinstance(node, list):
        return [resolve(item, document) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        where, _, pointer = node["$ref"].partition("#")
        target_doc = COMMON if where == COMMON_REF else document
        assert where in ("", COMMON_REF), f"unexpected $ref {node['$ref']}"
        target: Any = target_doc
        for part in pointer.strip("/").split("/"):
            target = target[part]
        return resolve(target, target_doc)
    return {key: resolve(value, document) for key, value in node.items()}


def operation(route: Route) -> dict[str, Any]:
    method, path = route.template.split(" ", 1)
    return dict(SPEC["paths"][path][method.lower()])


def spec_query(route: Route, *, required: bool) -> set[str]:
    params = operation(route).get("parameters", [])
    return {p["name"] for p in params if p["in"] == "query" and p.get("required") is required}


def response_schema(route: Route, status: str) -> dict[str, Any]:
    content = operation(route)["responses"][status]["content"]["application/json"]
    schema: dict[str, Any] = resolve(content["schema"], SPEC)
    return schema


def strings_for_string_examples(schema: dict[str, Any]) -> dict[str, Any]:
    """The spec's association schema, with ``type: object`` read as string where its example is."""
    fixed: dict[str, Any] = json.loads(json.dumps(schema))
    for prop in fixed["properties"].values():
        if prop.get("type") == "object" and isinstance(prop.get("example"), str):
            prop["type"] = "string"
    return fixed


def send(
    route: Route,
    *,
    drop_query: str = "",
    drop_body: str = "",
    body: Any = None,
    version: str = "2021-07-28",
) -> Answer:
    method, path = route.template.split(" ", 1)
    for name, value in PATH_VALUES.items():
        path = path.replace("{" + name + "}", value)
    query = {k: v for k, v in QUERY_VALUES.items() if k in route.query and k != drop_query}
    if body is None and method == "POST":
        body = {k: v for k, v in BODY_VALUES.items() if k != drop_body}
    headers = {"Authorization": f"Bearer {DEMO_TOKEN}", "Version": version}
    raw = json.dumps(body).encode() if body is not None else b""
    return Sandbox().handle(method, path + "?" + urlencode(query), headers, raw)


@pytest.fixture(params=ASSOCIATION_ROUTES, ids=lambda r: r.template)
def route(request: pytest.FixtureRequest) -> Route:
    return request.param  # type: ignore[no-any-return]


def test_every_association_route_is_in_the_spec(route: Route) -> None:
    method, path = route.template.split(" ", 1)
    assert method.lower() in SPEC["paths"].get(path, {}), f"{route.template} is not in the spec"


def test_scopes_match_the_spec(route: Route) -> None:
    assert operation(route)["security"] == [{"bearer": [route.scope]}]


def test_required_query_parameters_are_exactly_the_specs(route: Route) -> None:
    assert set(route.query) == spec_query(route, required=True)
    assert send(route).status in (200, 201)
    for name in spec_query(route, required=True):
        answer = send(route, drop_query=name)
        assert answer.status == 422, name
        assert f"{name} must be a string" in answer.json()["message"]


def test_optional_query_parameters_are_not_demanded(route: Route) -> None:
    assert not set(route.query) & spec_query(route, required=False)


def test_required_body_fields_are_exactly_the_specs(route: Route) -> None:
    body = operation(route).get("requestBody")
    if body is None:
        assert route.body == ()
        return
    schema = resolve(body["content"]["application/json"]["schema"], SPEC)
    assert set(route.body) == set(schema["required"])
    for name in schema["required"]:
        answer = send(route, drop_body=name)
        assert (answer.status, answer.json()["message"]) == (422, [f"{name} must be a string"])
        wrong_type = send(route, body={**BODY_VALUES, name: 12345})
        assert wrong_type.status == 422


def test_success_statuses_are_the_specs(route: Route) -> None:
    answer = send(route)
    assert str(answer.status) in operation(route)["responses"]


def test_version_header_is_required_as_the_spec_says(route: Route) -> None:
    versions = [p for p in operation(route)["parameters"] if p["name"] == "Version"]
    assert versions[0]["required"] is True
    assert send(route, version="").status == 400


ASSOCIATION_READS = [
    ("GET /associations/{associationId}", lambda body: [body]),
    ("GET /associations/key/{key_name}", lambda body: [body]),
    ("GET /associations/objectKey/{objectKey}", lambda body: body),
    ("GET /associations/", lambda body: body["associations"]),
]


@pytest.mark.parametrize(
    ("template", "items"), ASSOCIATION_READS, ids=[t for t, _ in ASSOCIATION_READS]
)
def test_associations_validate_against_the_spec(template: str, items: Any) -> None:
    route = next(r for r in ROUTES if r.template == template)
    schema = strings_for_string_examples(response_schema(route, "200"))
    found = items(send(route).json())
    assert found
    for association in found:
        jsonschema.validate(association, schema)


def test_relations_have_the_documented_shape_not_the_specs() -> None:
    create = next(r for r in ROUTES if r.is_create)
    relation = send(create).json()
    jsonschema.validate(relation, RELATION_SCHEMA)
    listed = send(next(r for r in ROUTES if r.template.startswith("GET /associations/relations")))
    for item in listed.json()["relations"]:
        jsonschema.validate(item, RELATION_SCHEMA)
    spec_schema = response_schema(create, "201")
    with pytest.raises(jsonschema.ValidationError):  # the spec's copy of the association schema
        jsonschema.validate(relation, strings_for_string_examples(spec_schema))


@pytest.mark.parametrize(
    ("status", "body", "headers"),
    [
        ("400", {**BODY_VALUES, "firstRecordId": student_id(1), "secondRecordId": teacher_id(1)},
         None),
        ("401", BODY_VALUES, {"Authorization": "Bearer nope", "Version": "2021-07-28"}),
        ("422", {}, None),
    ],
)  # fmt: skip
def test_error_bodies_validate_against_the_common_schemas(
    status: str, body: dict[str, Any], headers: dict[str, str] | None
) -> None:
    create = next(r for r in ROUTES if r.is_create)
    headers = headers or {"Authorization": f"Bearer {DEMO_TOKEN}", "Version": "2021-07-28"}
    answer = Sandbox().handle("POST", "/associations/relations", headers, json.dumps(body).encode())
    assert str(answer.status) == status
    error = answer.json()
    jsonschema.validate(error, response_schema(create, status))
    assert set(error) == {"statusCode", "message", "error", "traceId"}


@pytest.mark.parametrize(
    "name", ["associations.json", "common__common-schemas.json", "objects.json"]
)
def test_the_vendored_contract_is_the_shared_one(name: str) -> None:
    shared = SHARED_DIR / name
    if not shared.is_file():
        pytest.skip(f"no shared copy at {shared} to compare with (a clone on its own)")
    assert (SPEC_DIR / name).read_bytes() == shared.read_bytes()


OBJECTS = json.loads((SPEC_DIR / "objects.json").read_text())
SCHEMA_ROUTE = next(r for r in ROUTES if r.template == "GET /objects/{key}")


def _get_schema(query: dict[str, str], key: str = STUDENTS_KEY) -> Answer:
    headers = {"Authorization": f"Bearer {DEMO_TOKEN}", "Version": "2021-07-28"}
    return Sandbox().handle("GET", f"/objects/{key}?{urlencode(query)}", headers, b"")


def test_the_object_schema_route_is_the_specs() -> None:
    spec = OBJECTS["paths"]["/objects/{key}"]["get"]
    assert spec["security"] == [{"bearer": [SCHEMA_ROUTE.scope]}]
    required = {p["name"] for p in spec["parameters"] if p["in"] == "query" and p["required"]}
    assert set(SCHEMA_ROUTE.query) == required == {"locationId"}
    answer = _get_schema({})
    assert (answer.status, answer.json()["message"]) == (422, ["locationId must be a string"])


def test_an_object_schema_validates_against_the_spec_with_its_properties_when_asked() -> None:
    spec = OBJECTS["paths"]["/objects/{key}"]["get"]
    content = spec["responses"]["200"]["content"]["application/json"]["schema"]
    schema = resolve(content, OBJECTS)
    with_fields = _get_schema({"locationId": DEMO_LOCATION, "fetchProperties": "true"})
    assert with_fields.status == 200
    body = with_fields.json()
    jsonschema.validate(body, schema)
    assert [(f["fieldKey"], f["name"]) for f in body["fields"]] == [
        (f"{STUDENTS_KEY}.name", "Name"),
        (f"{STUDENTS_KEY}.student_email", "Student email"),
    ]
    assert body["object"]["labels"] == {"singular": "Student", "plural": "Students"}
    without = _get_schema({"locationId": DEMO_LOCATION}).json()
    jsonschema.validate(without, schema)
    assert "fields" not in without and without["object"] == body["object"]
    by_id = _get_schema({"locationId": DEMO_LOCATION}, key=body["object"]["id"]).json()
    assert by_id["object"] == body["object"]


def test_an_object_the_location_lacks_is_a_404() -> None:
    answer = _get_schema({"locationId": DEMO_LOCATION}, key="custom_objects.pets")
    assert (answer.status, answer.json()["message"]) == (
        404,
        "Object not found: custom_objects.pets",
    )
