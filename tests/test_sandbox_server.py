"""The sandbox over a real loopback socket."""

from __future__ import annotations

import socket
import threading
from typing import Any

import httpx
import pytest

from importer.sandbox import (
    DEMO_LOCATION,
    DEMO_TOKEN,
    STUDENT_TEACHER_ID,
    FaultPlan,
    Sandbox,
    serve,
    serve_forever,
    student_id,
    teacher_id,
)

HEADERS = {"Authorization": f"Bearer {DEMO_TOKEN}", "Version": "2021-07-28"}
PAIR = {
    "locationId": DEMO_LOCATION,
    "associationId": STUDENT_TEACHER_ID,
    "firstRecordId": student_id(3),
    "secondRecordId": teacher_id(2),
}


def test_serves_the_api_on_loopback() -> None:
    sandbox = Sandbox()
    with serve(sandbox) as server, httpx.Client(base_url=server.url, headers=HEADERS) as client:
        assert server.url.startswith("http://127.0.0.1:")
        created = client.post("/associations/relations", json=PAIR)
        duplicate = client.post("/associations/relations", json=PAIR)
        params: dict[str, Any] = {"locationId": DEMO_LOCATION, "skip": 0, "limit": 10}
        listed = client.get(f"/associations/relations/{teacher_id(2)}", params=params)
        unauthorised = client.get(f"/contacts/{teacher_id(1)}", headers={"Authorization": "x"})
    assert created.status_code == 201
    assert created.headers["content-type"].startswith("application/json")
    assert created.headers["X-RateLimit-Max"] == "100"
    assert duplicate.status_code == 400
    assert listed.json()["relations"] == [created.json()]
    assert unauthorised.status_code == 401
    assert "X-RateLimit-Daily-Remaining" in unauthorised.headers
    assert sandbox.stats(DEMO_LOCATION).created == 1


def test_a_drop_closes_the_socket_after_writing() -> None:
    sandbox = Sandbox(faults=FaultPlan(drop_after_write_every=1))
    with serve(sandbox) as server, httpx.Client(base_url=server.url, headers=HEADERS) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.post("/associations/relations", json=PAIR)
        assert client.get(f"/contacts/{teacher_id(1)}").status_code == 200  # reconnects
    assert sandbox.has_relation(DEMO_LOCATION, STUDENT_TEACHER_ID, student_id(3), teacher_id(2))


def test_a_late_answer_times_the_client_out() -> None:
    sandbox = Sandbox(faults=FaultPlan(timeout_every=1, timeout_delay=0.3))
    with (
        serve(sandbox) as server,
        httpx.Client(base_url=server.url, headers=HEADERS, timeout=0.05) as client,
        pytest.raises(httpx.ReadTimeout),
    ):
        client.post("/associations/relations", json=PAIR)
    assert sandbox.stats(DEMO_LOCATION).timed_out == 1


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", "", "::"])
def test_only_loopback_hosts(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        serve(Sandbox(), host=host)


def test_localhost_and_ipv6_loopback() -> None:
    with serve(Sandbox(), host="localhost") as server:
        assert server.url.startswith("http://127.0.0.1:")
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    try:
        running = serve(Sandbox(), host="::1")
    except OSError:
        pytest.skip("::1 cannot be bound here")
    with running, httpx.Client(base_url=running.url, headers=HEADERS) as client:
        assert running.url.startswith("http://[::1]:")
        assert client.get(f"/contacts/{teacher_id(1)}").status_code == 200


def test_serve_forever_until_stopped() -> None:
    stop, urls = threading.Event(), []
    ready = threading.Event()

    def announce(url: str) -> None:
        urls.append(url)
        ready.set()

    thread = threading.Thread(
        target=serve_forever,
        args=(Sandbox(),),
        kwargs={"port": 0, "ready": announce, "stop": stop},
    )
    thread.start()
    try:
        assert ready.wait(5)
        answer = httpx.get(f"{urls[0]}/contacts/{teacher_id(1)}", headers=HEADERS)
        assert answer.status_code == 200
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()
