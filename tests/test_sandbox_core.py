"""The sandbox's core, called directly: endpoints, checks, rate limits, faults, statistics."""

from __future__ import annotations

import dataclasses
import json
import re
import threading
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from importer.sandbox import (
    BUSINESSES_CONTACTS,
    DEMO_LOCATION,
    DEMO_TOKEN,
    OPPORTUNITIES_CONTACTS,
    OTHER_LOCATION,
    OTHER_TOKEN,
    READ_SCOPES,
    READONLY_TOKEN,
    STUDENT_TEACHER_ID,
    STUDENTS_KEY,
    VERSIONS,
    Action,
    Answer,
    FaultPlan,
    Limits,
    Sandbox,
    Seed,
    Token,
    demo_seed,
    student_id,
    teacher_id,
)
from importer.sandbox.faults import field_docs
from tests.conftest import FakeTime

RATE_HEADERS = (
    "X-RateLimit-Max",
    "X-RateLimit-Remaining",
    "X-RateLimit-Interval-Milliseconds",
    "X-RateLimit-Limit-Daily",
    "X-RateLimit-Daily-Remaining",
)
DUPLICATE = (
    "Could not create relation: duplicate relation of object Ids for given association "
    + STUDENT_TEACHER_ID
)


def call(
    sandbox: Sandbox,
    method: str,
    path: str,
    *,
    token: str | None = DEMO_TOKEN,
    params: dict[str, Any] | None = None,
    body: Any = None,
    version: str | None = "2021-07-28",
) -> Answer:
    headers = {"Content-Type": "application/json"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if version is not None:
        headers["Version"] = version
    target = path + ("?" + urlencode(params, doseq=True) if params else "")
    raw = json.dumps(body).encode() if body is not None else b""
    return sandbox.handle(method, target, headers, raw)


def create(sandbox: Sandbox, first: str, second: str, **kwargs: Any) -> Answer:
    body = {
        "locationId": kwargs.pop("location", DEMO_LOCATION),
        "associationId": kwargs.pop("association", STUDENT_TEACHER_ID),
        "firstRecordId": first,
        "secondRecordId": second,
    }
    return call(sandbox, "POST", "/associations/relations", body=body, **kwargs)


def relations_of(sandbox: Sandbox, record: str, **params: Any) -> Answer:
    query = {"locationId": DEMO_LOCATION, "skip": 0, "limit": 100, **params}
    return call(sandbox, "GET", f"/associations/relations/{record}", params=query)


# --- seed data -------------------------------------------------------------------------------


def test_seed_has_the_exact_ids_samples_use() -> None:
    seed = demo_seed()
    demo = {loc.id: loc for loc in seed.locations}[DEMO_LOCATION]
    ids = {(r.object_key, r.id) for r in demo.records}
    assert {(STUDENTS_KEY, f"67a349a79b28947ec1f6{n:04d}") for n in range(1, 13)} <= ids
    assert {("contact", f"cTeacher00000000000{n}") for n in range(1, 9)} <= ids
    assert {("opportunity", f"oppDemo000000000000{n}") for n in range(1, 4)} <= ids
    assert {
        ("business", "67b000000000000000000001"),
        ("business", "67b000000000000000000002"),
    } <= ids
    assert len(ids) == 12 + 8 + 3 + 2
    assert [(r.id, r.first_record_id, r.second_record_id) for r in demo.relations] == [
        ("67d000000000000000000001", student_id(1), teacher_id(1)),
        ("67d000000000000000000002", student_id(2), teacher_id(1)),
    ]
    assert {t.value for t in seed.tokens} == {DEMO_TOKEN, READONLY_TOKEN, OTHER_TOKEN}


def test_seed_false_keeps_records_but_no_relations() -> None:
    assert Sandbox(seed=False).relations(DEMO_LOCATION) == []
    assert len(Sandbox().relations(DEMO_LOCATION)) == 2


def test_empty_seed_knows_no_token() -> None:
    assert call(Sandbox(Seed()), "GET", "/contacts/x").status == 401


# --- associations --------------------------------------------------------------------------


def test_list_associations_pages_and_counts() -> None:
    params = {"locationId": DEMO_LOCATION, "skip": 1, "limit": 1}
    body = call(Sandbox(), "GET", "/associations/", params=params).json()
    assert body["total"] == 3
    assert [a["id"] for a in body["associations"]] == [OPPORTUNITIES_CONTACTS]


def test_location_b_has_only_system_associations() -> None:
    params = {"locationId": OTHER_LOCATION, "skip": 0, "limit": 10}
    body = call(Sandbox(), "GET", "/associations", token=OTHER_TOKEN, params=params).json()
    assert {a["id"] for a in body["associations"]} == {OPPORTUNITIES_CONTACTS, BUSINESSES_CONTACTS}


@pytest.mark.parametrize(
    ("path", "params"),
    [
        (f"/associations/{STUDENT_TEACHER_ID}", {}),
        ("/associations/key/student_teacher", {"locationId": DEMO_LOCATION}),
    ],
)
def test_get_association_by_id_or_key(path: str, params: dict[str, str]) -> None:
    answer = call(Sandbox(), "GET", path, params=params)
    assert answer.status == 200
    assert answer.json() == {
        "id": STUDENT_TEACHER_ID,
        "key": "student_teacher",
        "locationId": DEMO_LOCATION,
        "firstObjectKey": STUDENTS_KEY,
        "firstObjectLabel": "Student",
        "secondObjectKey": "contact",
        "secondObjectLabel": "Teacher",
        "associationType": "USER_DEFINED",
        "firstObjectToSecondObjectCardinality": "MANY_TO_MANY",
        "secondObjectToFirstObjectCardinality": "MANY_TO_MANY",
    }


def test_system_association_by_id_is_its_key() -> None:
    answer = call(Sandbox(), "GET", f"/associations/{OPPORTUNITIES_CONTACTS}")
    assert answer.json()["key"] == OPPORTUNITIES_CONTACTS
    assert answer.json()["associationType"] == "SYSTEM_DEFINED"


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/associations/student_teacher", {}),
        ("/associations/key/nope", {"locationId": DEMO_LOCATION}),
    ],
)
def test_unknown_association_is_404(path: str, params: dict[str, str]) -> None:
    assert call(Sandbox(), "GET", path, params=params).status == 404


def test_associations_by_object_key_is_a_list() -> None:
    params = {"locationId": DEMO_LOCATION}
    contact = call(Sandbox(), "GET", "/associations/objectKey/contact", params=params).json()
    assert len(contact) == 3
    students = call(Sandbox(), "GET", f"/associations/objectKey/{STUDENTS_KEY}", params=params)
    assert [a["id"] for a in students.json()] == [STUDENT_TEACHER_ID]
    assert call(Sandbox(), "GET", "/associations/objectKey/none", params=params).json() == []


# --- relations ------------------------------------------------------------------------------


def test_create_answers_201_with_the_relation() -> None:
    sandbox = Sandbox()
    answer = create(sandbox, student_id(3), teacher_id(2))
    assert answer.status == 201
    body = answer.json()
    assert re.fullmatch("[0-9a-f]{24}", body.pop("id"))
    assert body == {
        "associationId": STUDENT_TEACHER_ID,
        "firstRecordId": student_id(3),
        "secondRecordId": teacher_id(2),
        "firstObjectKey": STUDENTS_KEY,
        "secondObjectKey": "contact",
        "locationId": DEMO_LOCATION,
    }
    assert sandbox.has_relation(DEMO_LOCATION, STUDENT_TEACHER_ID, student_id(3), teacher_id(2))
    assert sandbox.stats(DEMO_LOCATION).created == 1


def test_existing_pair_is_the_duplicate_400() -> None:
    sandbox = Sandbox()
    answer = create(sandbox, student_id(1), teacher_id(1))
    assert answer.status == 400
    assert answer.json()["message"] == DUPLICATE
    assert set(answer.json()) == {"statusCode", "message", "error", "traceId"}
    assert len(sandbox.relations(DEMO_LOCATION)) == 2


def test_new_ids_are_unique_lowercase_hex() -> None:
    sandbox = Sandbox(seed=False)
    ids = {create(sandbox, student_id(s), teacher_id(t)).json()["id"] for s in range(1, 13)
           for t in range(1, 9)}  # fmt: skip
    assert len(ids) == 96
    assert all(re.fullmatch("[0-9a-f]{24}", i) for i in ids)


def test_system_association_relation_in_either_location() -> None:
    sandbox = Sandbox()
    demo = create(
        sandbox, "oppDemo0000000000001", teacher_id(1), association=OPPORTUNITIES_CONTACTS
    )
    other = create(
        sandbox,
        "oppOther000000000001",
        "cOtherLoc00000000001",
        association=OPPORTUNITIES_CONTACTS,
        location=OTHER_LOCATION,
        token=OTHER_TOKEN,
    )
    assert (demo.status, other.status) == (201, 201)
    assert other.json()["firstObjectKey"] == "opportunity"


@pytest.mark.parametrize(
    ("first", "second", "association", "message"),
    [
        ("67a349a79b28947ec1f69999", teacher_id(1), STUDENT_TEACHER_ID,
         f"Record 67a349a79b28947ec1f69999 not found for object key {STUDENTS_KEY}"),
        (student_id(1), "cTeacher000000000099", STUDENT_TEACHER_ID,
         "Record cTeacher000000000099 not found for object key contact"),
        (teacher_id(1), student_id(1), STUDENT_TEACHER_ID,  # the wrong order
         f"Record cTeacher000000000001 not found for object key {STUDENTS_KEY}"),
        (student_id(1), "cOtherLoc00000000001", STUDENT_TEACHER_ID,  # another location's
         "Record cOtherLoc00000000001 not found for object key contact"),
        (student_id(1), teacher_id(1), "student_teacher",  # a user-defined key is not an id
         "Association student_teacher not found"),
    ],
)  # fmt: skip
def test_unusable_references_are_400_not_duplicate(
    first: str, second: str, association: str, message: str
) -> None:
    answer = create(Sandbox(), first, second, association=association)
    assert (answer.status, answer.json()["message"]) == (400, message)
    assert "duplicate" not in message


@pytest.mark.parametrize(
    ("body", "messages"),
    [
        ({}, [f"{f} must be a string" for f in
              ("locationId", "associationId", "firstRecordId", "secondRecordId")]),
        ({"locationId": DEMO_LOCATION, "associationId": 5, "firstRecordId": None,
          "secondRecordId": " "},
         ["associationId must be a string", "firstRecordId must be a string",
          "secondRecordId should not be empty"]),
    ],
)  # fmt: skip
def test_create_body_problems_are_422_with_a_list(
    body: dict[str, Any], messages: list[str]
) -> None:
    answer = call(Sandbox(), "POST", "/associations/relations", body=body)
    assert answer.status == 422
    assert answer.json()["message"] == messages


@pytest.mark.parametrize("raw", [b"{nope", b"[1, 2]"])
def test_a_body_that_is_not_a_json_object_is_400(raw: bytes) -> None:
    headers = {"Authorization": f"Bearer {DEMO_TOKEN}", "Version": "2021-07-28"}
    answer = Sandbox().handle("POST", "/associations/relations", headers, raw)
    assert answer.status == 400


def test_relations_of_a_record_on_either_side() -> None:
    sandbox = Sandbox()
    create(sandbox, "oppDemo0000000000001", teacher_id(1), association=OPPORTUNITIES_CONTACTS)
    teacher = relations_of(sandbox, teacher_id(1)).json()
    assert teacher["total"] == 3
    assert {r["firstRecordId"] for r in teacher["relations"]} == {
        student_id(1), student_id(2), "oppDemo0000000000001"
    }  # fmt: skip
    student = relations_of(sandbox, student_id(1)).json()
    assert [r["id"] for r in student["relations"]] == ["67d000000000000000000001"]


@pytest.mark.parametrize(
    "filter_params",
    [{"associationIds": [STUDENT_TEACHER_ID]}, {"associationIds[]": STUDENT_TEACHER_ID},
     {"associationIds": [STUDENT_TEACHER_ID, "other"]}],
)  # fmt: skip
def test_relations_filtered_by_association_ids(filter_params: dict[str, Any]) -> None:
    sandbox = Sandbox()
    create(sandbox, "oppDemo0000000000001", teacher_id(1), association=OPPORTUNITIES_CONTACTS)
    body = relations_of(sandbox, teacher_id(1), **filter_params).json()
    assert body["total"] == 2
    assert {r["associationId"] for r in body["relations"]} == {STUDENT_TEACHER_ID}


def test_relations_page_with_skip_and_limit() -> None:
    body = relations_of(Sandbox(), teacher_id(1), skip=1, limit=1).json()
    assert body == {"relations": [Sandbox().relations(DEMO_LOCATION)[1]], "total": 2}


@pytest.mark.parametrize(
    ("params", "messages"),
    [
        ({}, ["locationId must be a string", "skip must be a string", "limit must be a string"]),
        ({"locationId": "", "skip": "-1", "limit": "0"},
         ["locationId should not be empty", "skip must be an integer of at least 0",
          "limit must be an integer of at least 1"]),
    ],
)  # fmt: skip
def test_relation_list_query_problems_are_422(params: dict[str, str], messages: list[str]) -> None:
    answer = call(Sandbox(), "GET", f"/associations/relations/{teacher_id(1)}", params=params)
    assert (answer.status, answer.json()["message"]) == (422, messages)


def test_delete_relation_then_it_is_gone_and_can_be_created_again() -> None:
    sandbox = Sandbox()
    path = "/associations/relations/67d000000000000000000001"
    params = {"locationId": DEMO_LOCATION}
    deleted = call(sandbox, "DELETE", path, params=params)
    assert (deleted.status, deleted.json()) == (200, {"deleted": True, "id": path[-24:]})
    assert call(sandbox, "DELETE", path, params=params).status == 404
    assert create(sandbox, student_id(1), teacher_id(1)).status == 201


# --- record look-ups -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "envelope", "expected"),
    [
        (f"/contacts/{teacher_id(3)}", "contact",
         {"id": teacher_id(3), "locationId": DEMO_LOCATION, "email": "teacher3@example.edu",
          "phone": "+15550100003", "firstName": "Teacher", "lastName": "3"}),
        (f"/objects/{STUDENTS_KEY}/records/{student_id(12)}", "record",
         {"id": student_id(12), "locationId": DEMO_LOCATION,
          "properties": {"name": "Luis Ortega", "student_email": "luis.ortega@example.edu"}}),
        ("/opportunities/oppDemo0000000000002", "opportunity",
         {"id": "oppDemo0000000000002", "locationId": DEMO_LOCATION, "name": "Demo deal 2",
          "status": "open"}),
        ("/businesses/67b000000000000000000001", "business",
         {"id": "67b000000000000000000001", "locationId": DEMO_LOCATION,
          "name": "Demo Company 1"}),
    ],
)  # fmt: skip
def test_record_look_ups(path: str, envelope: str, expected: dict[str, Any]) -> None:
    answer = call(Sandbox(), "GET", path)
    assert (answer.status, answer.json()) == (200, {envelope: expected})
    missing = call(Sandbox(), "GET", path[:-3] + "999")
    assert (missing.status, missing.json()["statusCode"]) == (404, 404)


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("email=TEACHER4%40example.edu", teacher_id(4)),
        ("number=%2B15550100005", teacher_id(5)),
        ("number=+15550100005", None),  # a raw "+" is a space: callers must encode it
        ("email=nobody%40example.edu", None),
    ],
)
def test_duplicate_contact_search(query: str, found: str | None) -> None:
    target = f"/contacts/search/duplicate?locationId={DEMO_LOCATION}&{query}"
    headers = {"Authorization": f"Bearer {DEMO_TOKEN}", "Version": "2021-07-28"}
    contact = Sandbox().handle("GET", target, headers).json()["contact"]
    assert (contact and contact["id"]) == found


@pytest.mark.parametrize(
    ("query", "page", "names", "total"),
    [("", 2, ["Emma Schmidt", "Farid Haddad", "Grace Kim", "Hugo Silva"], 12),
     ("name:ruiz", 1, ["Ana Ruiz"], 1), ("o", 1, ["Ben Okafor", "Chloe Martin", "Diego Lopez",
                                                    "Hugo Silva"], 7)],
)  # fmt: skip
def test_custom_record_search(query: str, page: int, names: list[str], total: int) -> None:
    body = {"locationId": DEMO_LOCATION, "page": page, "pageLimit": 4, "query": query}
    answer = call(Sandbox(), "POST", f"/objects/{STUDENTS_KEY}/records/search", body=body).json()
    assert [r["properties"]["name"] for r in answer["records"]] == names
    assert answer["total"] == total


# --- authentication and headers --------------------------------------------------------------


@pytest.mark.parametrize(
    ("token", "status", "message"),
    [
        (None, 401, "Invalid JWT"),
        ("pit-unknown", 401, "Invalid JWT"),
        (READONLY_TOKEN, 401, "The token is not authorized for this scope."),
        (OTHER_TOKEN, 403, "The token does not have access to this location."),
    ],
)
def test_token_refusals(token: str | None, status: int, message: str) -> None:
    sandbox = Sandbox()
    answer = create(sandbox, student_id(5), teacher_id(5), token=token)
    assert (answer.status, answer.json()["message"]) == (status, message)
    assert answer.json()["statusCode"] == status
    assert not sandbox.has_relation(DEMO_LOCATION, STUDENT_TEACHER_ID, student_id(5), teacher_id(5))
    assert sandbox.stats(DEMO_LOCATION).accepted == 0


def test_readonly_token_reads() -> None:
    assert relations_of(Sandbox(), teacher_id(1)).status == 200
    answer = call(Sandbox(), "GET", f"/contacts/{teacher_id(1)}", token=READONLY_TOKEN)
    assert answer.status == 200


def test_id_only_look_up_of_another_location_is_403() -> None:
    answer = call(Sandbox(), "GET", "/contacts/cOtherLoc00000000001")
    assert answer.status == 403


def test_extra_tokens_are_accepted() -> None:
    extra = Token("pit-extra", (DEMO_LOCATION, OTHER_LOCATION), READ_SCOPES)
    sandbox = Sandbox(tokens=(extra,))
    assert call(sandbox, "GET", "/contacts/cOtherLoc00000000001", token="pit-extra").status == 200
    assert "pit-extra" not in repr(extra)


@pytest.mark.parametrize("version", sorted(VERSIONS))
def test_every_documented_version_is_accepted(version: str) -> None:
    assert call(Sandbox(), "GET", f"/contacts/{teacher_id(1)}", version=version).status == 200


@pytest.mark.parametrize(
    ("version", "message"),
    [(None, "Version header is missing"), ("2020-01-01", "Unsupported Version header: 2020-01-01")],
)
def test_missing_or_unsupported_version_is_400(version: str | None, message: str) -> None:
    answer = call(Sandbox(), "GET", f"/contacts/{teacher_id(1)}", version=version)
    assert (answer.status, answer.json()["message"]) == (400, message)


def test_unknown_route_is_404() -> None:
    answer = call(Sandbox(), "PATCH", "/associations/relations")
    assert (answer.status, answer.json()["message"]) == (
        404,
        "Cannot PATCH /associations/relations",
    )


@pytest.mark.parametrize(
    ("token", "path"),
    [(DEMO_TOKEN, "/contacts/x"), ("bad", "/contacts/x"), (DEMO_TOKEN, "/nope"),
     (OTHER_TOKEN, f"/contacts/{teacher_id(1)}"), (READONLY_TOKEN, "/associations/relations")],
)  # fmt: skip
def test_every_answer_has_the_rate_limit_headers(token: str, path: str) -> None:
    answer = call(Sandbox(), "POST" if "relations" in path else "GET", path, token=token)
    assert all(answer.header(h) for h in RATE_HEADERS)
    assert answer.header("Retry-After") is None


# --- rate limits ------------------------------------------------------------------------------


def small(clock: FakeTime, faults: FaultPlan | None = None, **limits: Any) -> Sandbox:
    return Sandbox(limits=Limits(**{"burst": 3, "interval": 1.0, **limits}), faults=faults,
                   clock=clock.clock)  # fmt: skip


def look_up(sandbox: Sandbox, token: str = DEMO_TOKEN) -> Answer:
    return call(sandbox, "GET", f"/associations/{OPPORTUNITIES_CONTACTS}", token=token)


def test_burst_limit_answers_429_and_429s_do_not_count() -> None:
    clock = FakeTime(1000.0)
    sandbox = small(clock)
    remaining = [look_up(sandbox).header("X-RateLimit-Remaining") for _ in range(3)]
    assert remaining == ["2", "1", "0"]
    clock.now += 0.5
    refused = look_up(sandbox)
    assert (refused.status, refused.json()["message"]) == (429, "Too many requests")
    assert refused.header("X-RateLimit-Remaining") == "0"
    assert refused.header("Retry-After") is None
    clock.now += 0.5  # the first three leave the window (it is half-open)
    assert [look_up(sandbox).status for _ in range(4)] == [200, 200, 200, 429]
    stats = sandbox.stats(DEMO_LOCATION)
    assert (stats.requests, stats.accepted, stats.rate_limited, stats.max_in_window) == (8, 6, 2, 3)
    assert stats.by_route == {"GET /associations/{associationId}": 8}


def test_each_location_has_its_own_budget() -> None:
    sandbox = small(FakeTime(1000.0))
    assert [look_up(sandbox).status for _ in range(4)][-1] == 429
    assert look_up(sandbox, OTHER_TOKEN).status == 200


def test_bad_tokens_use_no_budget() -> None:
    sandbox = small(FakeTime(1000.0))
    assert {look_up(sandbox, "bad").status for _ in range(10)} == {401}
    assert look_up(sandbox).header("X-RateLimit-Remaining") == "2"


def test_daily_budget_then_429_with_daily_remaining_zero() -> None:
    clock = FakeTime(1000.0)
    sandbox = small(clock, daily=4, day_length=100.0)
    for _ in range(4):
        clock.now += 1
        look_up(sandbox)
    clock.now += 1
    refused = look_up(sandbox)
    assert (refused.status, refused.header("X-RateLimit-Daily-Remaining")) == (429, "0")
    clock.now += 100
    assert look_up(sandbox).header("X-RateLimit-Daily-Remaining") == "3"


def test_fault_plan_rate_limit_variations() -> None:
    plan = FaultPlan(retry_after=1.2, advertised_max=10, limit_drops_to=2, limit_drops_after=2)
    clock = FakeTime(1000.0)
    sandbox = small(clock, plan)
    answers = [look_up(sandbox) for _ in range(3)]
    assert [a.status for a in answers] == [200, 200, 429]
    assert [a.header("X-RateLimit-Max") for a in answers] == ["10"] * 3
    assert answers[-1].header("X-RateLimit-Remaining") == "8"  # a stricter server than it says
    assert answers[-1].header("Retry-After") == "2"


def test_no_rate_limit_headers_at_all() -> None:
    sandbox = small(FakeTime(1000.0), FaultPlan(rate_limit_headers=False))
    answers = [look_up(sandbox) for _ in range(4)]
    assert answers[-1].status == 429
    assert not any(a.header(h) for a in answers for h in RATE_HEADERS)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=60))
def test_no_window_ever_holds_more_than_the_limit(gaps: list[int]) -> None:
    clock = FakeTime(1000.0)
    sandbox = small(clock)
    accepted = []
    for gap in gaps:
        clock.now += gap / 20
        if look_up(sandbox).status == 200:
            accepted.append(clock.now)
    for i, start in enumerate(accepted):
        assert sum(1 for t in accepted[i:] if t < start + 1.0) <= 3
    assert sandbox.stats(DEMO_LOCATION).max_in_window <= 3


# --- faults ---------------------------------------------------------------------------------


def test_fail_every_nth_create_answers_503_without_writing() -> None:
    sandbox = Sandbox(seed=False, faults=FaultPlan(fail_every=2))
    answers = [create(sandbox, student_id(n), teacher_id(1)) for n in range(1, 5)]
    assert [a.status for a in answers] == [201, 503, 201, 503]
    assert len(sandbox.relations(DEMO_LOCATION)) == 2
    assert sandbox.stats(DEMO_LOCATION).server_errors == 2
    assert all(a.header("X-RateLimit-Max") for a in answers)


def test_drop_after_write_writes_then_drops() -> None:
    sandbox = Sandbox(seed=False, faults=FaultPlan(drop_after_write_every=1))
    answer = create(sandbox, student_id(1), teacher_id(1))
    assert answer.action is Action.DROP
    assert sandbox.has_relation(DEMO_LOCATION, STUDENT_TEACHER_ID, student_id(1), teacher_id(1))
    assert sandbox.stats(DEMO_LOCATION).dropped == 1


def test_timeout_writes_and_answers_late() -> None:
    plan = FaultPlan(timeout_every=1, timeout_delay=30.0, latency=0.25)
    sandbox = Sandbox(seed=False, faults=plan)
    answer = create(sandbox, student_id(1), teacher_id(1))
    assert (answer.action, answer.delay, answer.status) == (Action.TIMEOUT, 30.25, 201)
    assert sandbox.stats(DEMO_LOCATION).timed_out == 1
    assert look_up(sandbox).delay == 0.25  # latency applies to every answer


def test_faults_touch_creates_only() -> None:
    sandbox = Sandbox(faults=FaultPlan(fail_every=1))
    assert look_up(sandbox).status == 200


def test_random_faults_are_reproducible_with_a_seed() -> None:
    plan = FaultPlan(fail_rate=0.2, drop_rate=0.2, timeout_rate=0.2, latency_jitter=0.1, seed=7)

    def run() -> list[tuple[int, Action, float]]:
        sandbox = Sandbox(seed=False, faults=plan)
        answers = [create(sandbox, student_id(n), teacher_id(2)) for n in range(1, 13)]
        return [(a.status, a.action, a.delay) for a in answers]

    first = run()
    assert first == run()
    assert {action for _, action, _ in first} == {Action.RESPOND, Action.DROP, Action.TIMEOUT}
    assert 503 in {status for status, _, _ in first}


@pytest.mark.parametrize(
    "kwargs",
    [{"fail_every": -1}, {"fail_rate": 0.6, "drop_rate": 0.6}, {"latency": -1.0},
     {"limit_drops_to": 0}, {"advertised_max": 0}],
)  # fmt: skip
def test_impossible_fault_plans_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        FaultPlan(**kwargs)


def test_concurrent_creates_are_all_written_once() -> None:
    sandbox = Sandbox(seed=False, limits=Limits(burst=1000))
    statuses: list[int] = []

    def work(teacher: int) -> None:
        for n in range(1, 13):
            statuses.append(create(sandbox, student_id(n), teacher_id(teacher)).status)
            statuses.append(create(sandbox, student_id(n), teacher_id(teacher)).status)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(1, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(statuses) == [201] * 96 + [400] * 96
    assert len({r["id"] for r in sandbox.relations(DEMO_LOCATION)}) == 96


@pytest.mark.parametrize("model", [FaultPlan, Limits])
def test_every_option_field_has_a_one_line_doc(model: type) -> None:
    docs = field_docs(model)
    assert set(docs) == {f.name for f in dataclasses.fields(model)}
    assert all(doc and "\n" not in doc for doc in docs.values())


def test_set_faults_changes_the_plan_and_keeps_the_state() -> None:
    sandbox = Sandbox(faults=FaultPlan(fail_every=1))
    assert create(sandbox, student_id(3), teacher_id(2)).status == 503
    sandbox.set_faults(FaultPlan())
    assert create(sandbox, student_id(3), teacher_id(2)).status == 201
    assert len(sandbox.relations(DEMO_LOCATION)) == 3  # the two seeded ones are still there
