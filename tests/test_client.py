from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest
from pydantic import SecretStr

from importer.api import Client, RateLimiter, RateLimits, classify, retry_after
from importer.errors import (
    ApiError,
    AuthError,
    DuplicateRelationError,
    RateLimitedError,
    RejectedError,
    RetryableError,
    UnreachableError,
)
from importer.i18n import translate_line
from importer.models import Pair
from importer.sandbox import DEMO_LOCATION, DEMO_TOKEN, OTHER_LOCATION, OTHER_TOKEN, Sandbox, serve

TOKEN = "pit-very-secret-token-0000"
DUPLICATE = "Could not create relation: duplicate relation of object Ids for given association abc"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.parametrize(
    ("status", "message", "expected"),
    [
        (200, "", None),
        (201, "", None),
        (400, DUPLICATE, DuplicateRelationError),
        (400, "Invalid record", RejectedError),
        (401, "Invalid JWT", AuthError),
        (401, "The token is not authorized for this scope.", AuthError),
        (403, "The token does not have access to this location.", AuthError),
        (404, "Not found", RejectedError),
        (408, "", RetryableError),
        (422, "firstRecordId must be a string", RejectedError),
        (429, "Too many requests", RateLimitedError),
        (500, "", RetryableError),
        (502, "", RetryableError),
        (503, "", RetryableError),
    ],
)
def test_classify(status: int, message: str, expected: type[ApiError] | None) -> None:
    assert classify(status, message) is expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"Retry-After": "-4"}, None),
        ({"Retry-After": "soon"}, None),
        (
            {
                "Retry-After": "Sat, 28 Nov 2026 10:00:30 GMT",
                "Date": "Sat, 28 Nov 2026 10:00:00 GMT",
            },
            30.0,
        ),
    ],
)
def test_retry_after_is_read_the_way_the_limiter_reads_it(
    headers: dict[str, str], expected: float | None
) -> None:
    assert retry_after(httpx.Headers(headers)) == expected


def make_client(handler: Callable[[httpx.Request], httpx.Response]) -> Client:
    return Client(
        base_url="https://api.test",
        token=SecretStr(TOKEN),
        api_version="2021-07-28",
        limiter=RateLimiter(RateLimits()),
        transport=httpx.MockTransport(handler),
    )


def answer(status: int, body: object) -> Callable[[httpx.Request], httpx.Response]:
    return lambda request: httpx.Response(status, json=body)


@pytest.mark.anyio
async def test_create_sends_the_documented_request_and_returns_the_id() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json={"id": "rel1"})

    client = make_client(handler)
    assert await client.create_relation("loc", "assoc", Pair("a", "b")) == "rel1"
    await client.aclose()
    request = seen[0]
    assert (request.method, request.url.path) == ("POST", "/associations/relations")
    assert request.headers["Authorization"] == f"Bearer {TOKEN}"
    assert request.headers["Version"] == "2021-07-28"
    assert json.loads(request.content) == {
        "locationId": "loc",
        "associationId": "assoc",
        "firstRecordId": "a",
        "secondRecordId": "b",
    }


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "body", "error", "text"),
    [
        (400, {"statusCode": 400, "message": DUPLICATE}, DuplicateRelationError, "duplicate"),
        (
            422,
            {"statusCode": 422, "message": ["a must be", "b must be"]},
            RejectedError,
            "a must be; b must be",
        ),
        (
            401,
            {"statusCode": 401, "message": "Invalid JWT"},
            AuthError,
            "Put a valid, unexpired token in the environment variable $LEADWAY_TOKEN",
        ),
        (403, {"statusCode": 403, "message": "nope"}, AuthError, "may not access location loc"),
        (
            503,
            {"statusCode": 503, "message": "Service Unavailable"},
            RetryableError,
            "Service Unavailable",
        ),
    ],
)
async def test_errors_carry_the_api_message_and_never_the_token(
    status: int, body: object, error: type[ApiError], text: str
) -> None:
    client = make_client(answer(status, body))
    with pytest.raises(error) as caught:
        await client.create_relation("loc", "assoc", Pair("a", "b"))
    await client.aclose()
    assert text in str(caught.value)
    assert TOKEN not in str(caught.value) and TOKEN not in repr(caught.value)
    assert TOKEN not in repr(client)


async def _connect_fails(base_url: str, error: str) -> UnreachableError:
    """What a create says when every connection fails with ``error``."""

    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError(error, request=request)

    client = Client(
        base_url=base_url,
        token=SecretStr(TOKEN),
        api_version="2021-07-28",
        limiter=RateLimiter(RateLimits()),
        transport=httpx.MockTransport(handler),
    )
    with pytest.raises(UnreachableError) as caught:
        await client.create_relation("loc", "assoc", Pair("a", "b"))
    await client.aclose()
    return caught.value


@pytest.mark.anyio
@pytest.mark.parametrize(
    "base_url", ["http://127.0.0.1:9", "https://user:secret@api.test/v2/?key=secret"]
)
async def test_a_refused_connection_names_the_url_and_no_secret(base_url: str) -> None:
    caught = await _connect_fails(base_url, "[Errno 111] Connection refused")
    shown = "http://127.0.0.1:9" if "127" in base_url else "https://api.test/v2"
    assert caught.message == (
        f"could not connect to the API at {shown} ([Errno 111] Connection refused): check the "
        "target (--base-url) and the network"
    )
    assert caught.reason == "could not connect to the API ([Errno 111] Connection refused)"
    assert "secret" not in caught.message and TOKEN not in caught.message
    assert translate_line(caught.message, "es") is not None


@pytest.mark.anyio
async def test_no_file_descriptor_left_is_not_called_a_network_problem() -> None:
    caught = await _connect_fails("http://127.0.0.1:9", "[Errno 24] Too many open files")
    assert caught.message == (
        "could not open a connection ([Errno 24] Too many open files): this process may open "
        "no more files; raise the limit (ulimit -n) or split the file by location (relimport "
        "split)"
    )
    assert translate_line(caught.message, "es") is not None


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("exception", "maybe_written"),
    [
        (httpx.ConnectError("refused"), False),
        (httpx.ConnectTimeout("slow"), False),
        (httpx.ReadTimeout("slow"), True),
        (httpx.RemoteProtocolError("Server disconnected"), True),
    ],
)
async def test_network_failures_are_retryable_and_say_whether_the_write_may_have_happened(
    exception: httpx.TransportError, maybe_written: bool
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exception

    client = make_client(handler)
    with pytest.raises(RetryableError) as caught:
        await client.create_relation("loc", "assoc", Pair("a", "b"))
    await client.aclose()
    assert caught.value.maybe_written is maybe_written


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("wanted", "paths"),
    [
        ("student_teacher", ["/associations/key/student_teacher"]),
        ("67c1f2a3b4c5d6e7f8a90001", ["/associations/67c1f2a3b4c5d6e7f8a90001"]),
        (
            "OPPORTUNITIES_CONTACTS_ASSOCIATION",
            ["/associations/OPPORTUNITIES_CONTACTS_ASSOCIATION"],
        ),
        ("Mixed", ["/associations/key/Mixed", "/associations/Mixed"]),
    ],
)
async def test_get_association_asks_first_the_way_the_value_looks(
    wanted: str, paths: list[str]
) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        if request.url.path.endswith("/Mixed") and "/key/" in request.url.path:
            return httpx.Response(404, json={"statusCode": 404, "message": "Not found"})
        return httpx.Response(200, json={"id": "x1", "key": wanted})

    client = make_client(handler)
    found = await client.get_association("loc", wanted)
    await client.aclose()
    assert found is not None and found.id == "x1"
    assert seen == paths


@pytest.mark.anyio
async def test_find_relation_pages_and_matches_the_exact_pair() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        skip = int(request.url.params["skip"])
        assert request.url.params.get_list("associationIds") == ["assoc"]
        if skip == 0:
            page = [
                {"id": f"r{n}", "firstRecordId": "a", "secondRecordId": f"z{n}"} for n in range(100)
            ]
        else:
            page = [{"id": "wanted", "firstRecordId": "a", "secondRecordId": "b"}]
        return httpx.Response(200, json={"relations": page})

    client = make_client(handler)
    assert await client.find_relation("loc", "assoc", Pair("a", "b")) == "wanted"
    assert await client.find_relation("loc", "assoc", Pair("a", "nope")) is None
    await client.aclose()


@pytest.mark.anyio
async def test_every_request_goes_through_the_location_limiter() -> None:
    limiter = RateLimiter(RateLimits())
    client = Client(
        base_url="https://api.test",
        token=SecretStr(TOKEN),
        api_version="2021-07-28",
        limiter=limiter,
        transport=httpx.MockTransport(answer(201, {"id": "r"})),
    )
    for _ in range(3):
        await client.create_relation("locA", "assoc", Pair("a", "b"))
    await client.create_relation("locB", "assoc", Pair("a", "b"))
    await client.aclose()
    assert {k: v.requests for k, v in limiter.stats.items()} == {"locA": 3, "locB": 1}


@pytest.mark.anyio
async def test_a_base_url_with_a_path_keeps_it_in_every_request() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url.copy_with(query=None)))
        return httpx.Response(201 if request.method == "POST" else 200, json={"id": "r"})

    client = Client(
        base_url="https://api.test/v2",
        token=SecretStr(TOKEN),
        api_version="2021-07-28",
        limiter=RateLimiter(RateLimits()),
        transport=httpx.MockTransport(handler),
    )
    await client.create_relation("loc", "assoc", Pair("a", "b"))
    await client.list_associations("loc")
    await client.aclose()
    assert seen == [
        "https://api.test/v2/associations/relations",
        "https://api.test/v2/associations/",
    ]


@pytest.mark.slow
@pytest.mark.anyio
async def test_over_a_socket_each_location_is_sent_its_own_token() -> None:
    """A pool of connections per location, its token among the pool's headers: each location
    is asked with its own token, and one with no token of its own with the run's."""
    with serve(Sandbox()) as server:
        client = Client(
            base_url=server.url,
            token=SecretStr(DEMO_TOKEN),
            api_version="2021-07-28",
            limiter=RateLimiter(RateLimits()),
            tokens={OTHER_LOCATION: (SecretStr(OTHER_TOKEN), "OTHER_TOKEN")},
        )
        try:
            for _ in range(2):  # the second time through the pools made the first
                assert await client.list_associations(DEMO_LOCATION)
                assert await client.list_associations(OTHER_LOCATION)
        finally:
            await client.aclose()
        only_demo = Client(
            base_url=server.url,
            token=SecretStr(DEMO_TOKEN),
            api_version="2021-07-28",
            limiter=RateLimiter(RateLimits()),
        )
        try:
            with pytest.raises(AuthError) as refused:
                await only_demo.list_associations(OTHER_LOCATION)
        finally:
            await only_demo.aclose()
    assert refused.value.status == 403
