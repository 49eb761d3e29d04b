from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from email.utils import formatdate

import httpx
import pytest
from pydantic import SecretStr

from importer.api import Client, RateLimiter, RateLimits, RetryPolicy
from importer.models import Outcome, Pair, Status
from importer.run import INTENT_GROUP, Job, Sender, is_final
from tests.conftest import FakeTime

DUPLICATE = {
    "statusCode": 400,
    "message": "Could not create relation: duplicate relation of "
    "object Ids for given association assoc",
}
Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class Server:
    """Scripted answers per first record id; relations remembered like the API does."""

    def __init__(self, script: dict[str, list[object]]) -> None:
        self.script = script
        self.created: dict[tuple[str, str], str] = {}
        self.creates = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            first = request.url.path.rsplit("/", 1)[1]
            relations = [
                {"id": rid, "firstRecordId": a, "secondRecordId": b}
                for (a, b), rid in self.created.items()
                if a == first
            ]
            return httpx.Response(200, json={"relations": relations})
        self.creates += 1
        body = json.loads(request.content)
        pair = (body["firstRecordId"], body["secondRecordId"])
        step = self.script.get(pair[0], ["create"]).pop(0) if self.script.get(pair[0]) else "create"
        if step == "drop_after_write":
            self.created[pair] = f"rel-{pair[0]}"
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        if isinstance(step, int):
            return httpx.Response(step, json={"statusCode": step, "message": f"status {step}"})
        if pair in self.created:
            return httpx.Response(400, json=DUPLICATE)
        self.created[pair] = f"rel-{pair[0]}"
        return httpx.Response(201, json={"id": f"rel-{pair[0]}"})


def dated(response: httpx.Response) -> httpx.Response:
    """Every answer of a real server carries its clock."""
    response.headers["Date"] = formatdate(usegmt=True)
    return response


def fake_client(handler: Handler, time: FakeTime) -> Client:
    return Client(
        base_url="https://api.test",
        token=SecretStr("t"),
        api_version="2021-07-28",
        limiter=RateLimiter(RateLimits(), clock=time.clock, sleep=time.sleep),
        transport=httpx.MockTransport(handler),
    )


async def send(
    server: Server, pairs: list[Pair], *, attempts: int = 3, concurrency: int = 4
) -> tuple[dict[int, Outcome], Sender]:
    time = FakeTime()
    client = fake_client(lambda request: dated(server(request)), time)
    sender = Sender(
        client, retry=RetryPolicy(max_attempts=attempts), concurrency=concurrency, sleep=time.sleep
    )
    outcomes: dict[int, Outcome] = {}

    async def jobs() -> AsyncIterator[Job]:
        for seq, pair in enumerate(pairs):
            yield Job(seq, seq + 2, "loc", "assoc", pair)

    async def record(job: Job, outcome: Outcome) -> None:
        assert job.seq not in outcomes
        outcomes[job.seq] = outcome

    await sender.run(jobs(), record)
    await client.aclose()
    return outcomes, sender


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("script", "status", "relation_id", "attempts", "code"),
    [
        ([], Status.CREATED, "rel-a", 1, ""),
        # a 503 may hide a write: look the pair up (1 request) before sending again
        ([503, "create"], Status.CREATED, "rel-a", 3, ""),
        ([429, 429, "create"], Status.CREATED, "rel-a", 3, ""),
        # found after a lost answer; "rel-a" carries no creation time: created, unverified
        (["drop_after_write", "create"], Status.CREATED, "rel-a", 2, "unverified"),
        ([503, 503, 503], Status.FAILED, "", 5, "gave_up"),
        # 429s pace the location rather than refuse the row: a larger allowance (4 x 3)
        ([429, 429, 429], Status.CREATED, "rel-a", 4, ""),
        # a location that answers nothing but 429 for minutes is stopped, not hammered
        ([429] * 12, Status.NOT_SENT, "", 10, "refused"),
        ([422], Status.FAILED, "", 1, "rejected"),
        ([404], Status.FAILED, "", 1, "rejected"),
    ],
)
async def test_one_pair(
    script: list[object], status: Status, relation_id: str, attempts: int, code: str
) -> None:
    outcomes, _ = await send(Server({"a": list(script)}), [Pair("a", "b")])
    outcome = outcomes[0]
    assert (outcome.status, outcome.relation_id, outcome.attempts, outcome.error_code) == (
        status,
        relation_id,
        attempts,
        code,
    )


@pytest.mark.anyio
async def test_an_existing_pair_is_already_exists_without_retry() -> None:
    server = Server({})
    server.created[("a", "b")] = "old"
    outcomes, _ = await send(server, [Pair("a", "b")])
    assert (outcomes[0].status, outcomes[0].attempts, server.creates) == (
        Status.ALREADY_EXISTS,
        1,
        1,
    )


@pytest.mark.anyio
async def test_a_failure_message_says_when_the_write_may_have_happened() -> None:
    outcomes, _ = await send(Server({"a": [503, 503, 503]}), [Pair("a", "b")])
    assert outcomes[0].error == (
        "gave up after 5 requests: status 503 "
        "(a request may have created it: a re-run looks it up first)"
    )


@pytest.mark.anyio
async def test_an_auth_error_stops_the_run_and_every_row_still_gets_one_outcome() -> None:
    pairs = [Pair(f"p{n}", "b") for n in range(50)]
    outcomes, sender = await send(Server({"p5": [401]}), pairs, concurrency=2)
    assert sorted(outcomes) == list(range(50))
    assert sender.fatal is not None
    statuses = [outcomes[n].status for n in range(50)]
    assert statuses[:5] == [Status.CREATED] * 5
    assert statuses[5] is Status.NOT_SENT
    assert statuses[-1] is Status.NOT_SENT
    assert "not sent: the run stopped because The API refused the token" in outcomes[49].error


def object_id(created_at: float) -> str:
    return f"{int(created_at):08x}{'ab' * 8}"


class WritesThenFails(Server):
    """Answers 503 to the first create although it wrote the relation (the API does that)."""

    def __call__(self, request: httpx.Request) -> httpx.Response:
        response = super().__call__(request)
        if request.method == "POST" and response.status_code == 503:
            self.created[("a", "b")] = object_id(time.time())
        return response


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("server", "status"),
    [
        (Server({"a": [503]}), Status.ALREADY_EXISTS),  # there since a minute ago, see below
        (WritesThenFails({"a": [503]}), Status.CREATED),  # written by the lost create
    ],
)
async def test_a_relation_found_after_a_lost_answer_is_judged_by_its_id(
    server: Server, status: Status
) -> None:
    if type(server) is Server:
        server.created[("a", "b")] = object_id(time.time() - 60)
    outcomes, _ = await send(server, [Pair("a", "b")])
    assert outcomes[0].status is status
    assert outcomes[0].relation_id == server.created[("a", "b")]
    assert outcomes[0].http_status is None  # no answer came: none is made up
    assert server.creates == 1  # the look-up found it: no second create


class RefusesLookups(Server):
    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            return httpx.Response(422, json={"statusCode": 422, "message": ["bad query"]})
        return super().__call__(request)


class WritesThenRefusesLookups(WritesThenFails, RefusesLookups):
    """The lost create wrote the relation, and the look-up that would find it is refused."""


@pytest.mark.anyio
async def test_a_refused_look_up_lets_the_creates_own_answer_settle_the_row() -> None:
    """The look-up cannot tell, so the create is sent: a 201 proves nothing was there."""
    server = RefusesLookups({"a": [503]})
    outcomes, _ = await send(server, [Pair("a", "b")])
    outcome = outcomes[0]
    assert (outcome.status, outcome.in_doubt, server.creates) == (Status.CREATED, False, 2)


@pytest.mark.anyio
async def test_a_refused_look_up_of_a_pair_that_exists_leaves_the_row_in_doubt() -> None:
    """The duplicate answer says it exists, not whose it is: still in doubt, never created
    twice."""
    server = WritesThenRefusesLookups({"a": [503]})
    outcomes, _ = await send(server, [Pair("a", "b")])
    outcome = outcomes[0]
    assert (outcome.status, outcome.error_code, outcome.in_doubt) == (
        Status.FAILED,
        "lookup_failed",
        True,
    )
    assert len(server.created) == 1


@pytest.mark.anyio
@pytest.mark.parametrize("lookup_refused", [False, True])
async def test_a_definitive_refusal_settles_a_row_in_doubt(lookup_refused: bool) -> None:
    """A create in doubt (503), then a 400 (say, a record that does not exist): the row is
    settled and says so, whether the look-up in between found nothing or was refused."""
    server = (RefusesLookups if lookup_refused else Server)({"a": [503, 400]})
    outcomes, _ = await send(server, [Pair("a", "b")])
    outcome = outcomes[0]
    assert (outcome.status, outcome.error_code, outcome.in_doubt) == (
        Status.FAILED,
        "rejected",
        False,
    )
    assert outcome.error == (
        "status 400 (this answer settles the row an earlier attempt left in doubt)"
    )
    assert is_final(outcome)  # a resume, or a re-run of the finished file, sends no create


@pytest.mark.anyio
async def test_an_unreadable_success_is_in_doubt_and_resolved_by_a_look_up() -> None:
    class Garbled(Server):
        def __call__(self, request: httpx.Request) -> httpx.Response:
            response = super().__call__(request)
            if request.method == "POST" and response.status_code == 201:
                return httpx.Response(201, text="Created")
            return response

    server = Garbled({})
    outcomes, _ = await send(server, [Pair("a", "b"), Pair("c", "d")])
    assert [o.status for o in outcomes.values()] == [Status.CREATED, Status.CREATED]
    assert [o.relation_id for o in outcomes.values()] == ["rel-a", "rel-c"]
    assert server.creates == 2


@pytest.mark.anyio
async def test_every_job_is_in_one_group_seen_before_its_create_leaves() -> None:
    server = Server({})
    intended: list[str] = []
    groups: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        first = json.loads(request.content)["firstRecordId"]
        assert first in intended, "a create left before its intent"
        return dated(server(request))

    time = FakeTime()
    client = fake_client(handler, time)

    def before_queue(jobs: Sequence[Job]) -> None:
        groups.append(len(jobs))
        intended.extend(job.pair.first_id for job in jobs)

    sender = Sender(
        client, retry=RetryPolicy(), concurrency=4, sleep=time.sleep, before_queue=before_queue
    )
    pairs = [Pair(f"r{i}", "b") for i in range(200)]

    async def jobs() -> AsyncIterator[Job]:
        for seq, pair in enumerate(pairs):
            yield Job(seq, seq + 2, "loc", "assoc", pair)

    outcomes: dict[int, Outcome] = {}

    async def record(job: Job, outcome: Outcome) -> None:
        outcomes[job.seq] = outcome

    await sender.run(jobs(), record)
    await client.aclose()
    assert sorted(intended) == sorted(p.first_id for p in pairs)  # each job in one group
    assert max(groups) <= INTENT_GROUP and len(groups) < len(pairs) / 4  # grouped, not per job
    assert {o.status for o in outcomes.values()} == {Status.CREATED}
