"""The sandbox through httpx in-process: no socket, an injected sleep, the client's timeouts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from importer.sandbox import (
    DEMO_LOCATION,
    DEMO_TOKEN,
    STUDENT_TEACHER_ID,
    FaultPlan,
    Sandbox,
    SandboxTransport,
    student_id,
    teacher_id,
)
from tests.conftest import FakeTime

pytestmark = pytest.mark.anyio
BASE = "https://sandbox.invalid"
HEADERS = {"Authorization": f"Bearer {DEMO_TOKEN}", "Version": "2021-07-28"}


async def client_for(
    sandbox: Sandbox, fake_time: FakeTime, timeout: float | None = 5.0
) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=sandbox.transport(sleep=fake_time.sleep),
        base_url=BASE,
        headers=HEADERS,
        timeout=timeout,
    )


@pytest.fixture
async def client(fake_time: FakeTime) -> AsyncIterator[httpx.AsyncClient]:
    async with await client_for(Sandbox(), fake_time) as client:
        yield client


def pair(n: int = 3, t: int = 2) -> dict[str, str]:
    return {
        "locationId": DEMO_LOCATION,
        "associationId": STUDENT_TEACHER_ID,
        "firstRecordId": student_id(n),
        "secondRecordId": teacher_id(t),
    }


async def test_create_then_duplicate(client: httpx.AsyncClient, fake_time: FakeTime) -> None:
    created = await client.post("/associations/relations", json=pair())
    assert created.status_code == 201
    assert created.json()["firstRecordId"] == student_id(3)
    assert created.headers["X-RateLimit-Remaining"] == "99"
    again = await client.post("/associations/relations", json=pair())
    assert again.status_code == 400
    assert "duplicate relation" in again.json()["message"]
    assert fake_time.slept == []


async def test_list_params_as_httpx_encodes_them(client: httpx.AsyncClient) -> None:
    params: dict[str, Any] = {"locationId": DEMO_LOCATION, "skip": 0, "limit": 10,
              "associationIds": [STUDENT_TEACHER_ID, "OTHER"]}  # fmt: skip
    answer = await client.get(f"/associations/relations/{teacher_id(1)}", params=params)
    assert answer.json()["total"] == 2


async def test_plus_and_at_encoded_by_httpx_params(client: httpx.AsyncClient) -> None:
    params = {"locationId": DEMO_LOCATION, "number": "+15550100002"}
    answer = await client.get("/contacts/search/duplicate", params=params)
    assert answer.json()["contact"]["id"] == teacher_id(2)


async def test_latency_is_slept(fake_time: FakeTime) -> None:
    sandbox = Sandbox(faults=FaultPlan(latency=0.2))
    async with await client_for(sandbox, fake_time) as client:
        await client.get(f"/contacts/{teacher_id(1)}")
    assert fake_time.slept == [0.2]


async def test_drop_raises_after_the_write(fake_time: FakeTime) -> None:
    sandbox = Sandbox(faults=FaultPlan(drop_after_write_every=1))
    async with await client_for(sandbox, fake_time) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post("/associations/relations", json=pair())
    assert sandbox.has_relation(DEMO_LOCATION, STUDENT_TEACHER_ID, student_id(3), teacher_id(2))


async def test_timeout_honours_the_clients_read_timeout(fake_time: FakeTime) -> None:
    sandbox = Sandbox(faults=FaultPlan(timeout_every=1, timeout_delay=30.0))
    async with await client_for(sandbox, fake_time, timeout=5.0) as client:
        with pytest.raises(httpx.ReadTimeout):
            await client.post("/associations/relations", json=pair())
    assert fake_time.slept == [5.0]
    assert sandbox.has_relation(DEMO_LOCATION, STUDENT_TEACHER_ID, student_id(3), teacher_id(2))


@pytest.mark.parametrize("timeout", [None, 60.0])
async def test_a_patient_client_gets_the_late_answer(
    fake_time: FakeTime, timeout: float | None
) -> None:
    sandbox = Sandbox(faults=FaultPlan(timeout_every=1, timeout_delay=30.0))
    async with await client_for(sandbox, fake_time, timeout=timeout) as client:
        answer = await client.post("/associations/relations", json=pair())
    assert (answer.status_code, fake_time.slept) == (201, [30.0])


async def test_default_transport_really_sleeps() -> None:
    sandbox = Sandbox(faults=FaultPlan(latency=0.01))
    transport = SandboxTransport(sandbox)
    async with httpx.AsyncClient(transport=transport, base_url=BASE, headers=HEADERS) as client:
        answer = await client.get(f"/contacts/{teacher_id(1)}")
    assert answer.status_code == 200
