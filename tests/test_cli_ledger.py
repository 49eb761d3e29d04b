"""``relimport ledger status|verify|forget`` as a user sees them, against a loopback server."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from importer.sandbox import DEMO_LOCATION, DEMO_TOKEN, STUDENT_TEACHER_ID, Sandbox, serve
from tests.helpers import delete, invoke


@pytest.fixture
def sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Sandbox, str]]:
    monkeypatch.setenv("LEADWAY_TOKEN", DEMO_TOKEN)
    sandbox = Sandbox()
    with serve(sandbox) as server:
        yield sandbox, server.url


def masked(text: str) -> str:
    text = re.sub(r"\d+ bytes", "N bytes", text)
    text = re.sub(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", "DATE", text)
    return re.sub(r"-[0-9a-f]{8}\.sqlite", "-HASH.sqlite", text)


def test_status_verify_and_forget(in_repo: Path, sandbox: tuple[Sandbox, str]) -> None:
    server, url = sandbox
    code, out, _ = invoke("ledger", "status")
    assert (code, out) == (
        0,
        "No ledger in .relimport: a real run writes one there (the built-in "
        "sandbox keeps its ledger in memory, for one run).\n",
    )
    assert invoke("run", "samples/relations.csv", "--base-url", url)[0] == 0
    code, out, _ = invoke("ledger", "status")
    name = f".relimport/ledger-127.0.0.1-{DEMO_LOCATION}-HASH.sqlite"
    assert (code, masked(out)) == (
        0,
        f"{name}: {url}, location {DEMO_LOCATION}, N bytes\n"
        f"  student_teacher ({STUDENT_TEACHER_ID}): 20 pairs, 18 created by relimport; "
        "oldest confirmation DATE\n",
    )
    for relation in server.relations(DEMO_LOCATION)[:3]:
        delete(server, relation["id"])
    code, out, err = invoke("ledger", "verify", "--base-url", url)
    assert (code, err) == (0, "")
    assert out == (
        f"Verifying the ledger of {url}, location {DEMO_LOCATION}: 8 records to read, at least "
        "8 requests.\n"
        "Verified: 8 records read; 17 pairs confirmed, 3 forgotten (gone from the CRM).\n"
    )
    code, out, _ = invoke(
        "ledger", "forget", "--base-url", url, "--location", DEMO_LOCATION,
        "--association", "student_teacher",
    )  # fmt: skip
    assert (code, out) == (
        0,
        f"Forgot 17 pairs of the association student_teacher in location {DEMO_LOCATION}.\n",
    )
    assert masked(invoke("ledger", "status")[1]).endswith("N bytes\n  no pairs\n")
    code, _, err = invoke(
        "ledger", "forget", "--base-url", url, "--location", DEMO_LOCATION, "--association", "x"
    )
    assert (code, err) == (
        2,
        "Error: The ledger holds no pairs of the association 'x'. It holds: none.\n",
    )


def test_there_is_no_ledger_to_verify_on_the_built_in_sandbox_or_before_a_run(
    in_repo: Path, sandbox: tuple[Sandbox, str]
) -> None:
    code, _, err = invoke("ledger", "verify")
    assert (code, err) == (
        2,
        "Error: The built-in sandbox keeps its ledger in memory, for one run: there is no "
        "ledger to work on. Give --base-url (or target in config.yaml) of the API.\n",
    )
    _, url = sandbox
    code, _, err = invoke("ledger", "forget", "--base-url", url, "--location", "elsewhere")
    assert (code, err) == (
        2,
        f"Error: No ledger of {url}, location elsewhere in .relimport: a real run "
        "writes one there. Check state_dir, --base-url and --location.\n",
    )


def test_verify_waits_for_no_run_of_the_location(
    in_repo: Path, sandbox: tuple[Sandbox, str]
) -> None:
    """A run holds its location: verify, which writes the same ledger, stops (exit 2)."""
    import asyncio

    from importer.run import RunLock, location_lock_path

    _, url = sandbox
    assert invoke("run", "samples/relations.csv", "--base-url", url)[0] == 0
    where = location_lock_path(in_repo / ".relimport", url, DEMO_LOCATION)
    held = RunLock(where, f"Location {DEMO_LOCATION}")
    asyncio.run(held.__aenter__())
    try:
        code, _, err = invoke("ledger", "verify", "--base-url", url)
    finally:
        asyncio.run(held.__aexit__(None, None, None))
    assert code == 2
    assert err.startswith(f"Error: Location {DEMO_LOCATION} is in use by another relimport run")
    assert invoke("ledger", "verify", "--base-url", url)[0] == 0  # once it is free


def test_status_with_json_prints_one_object(in_repo: Path, sandbox: tuple[Sandbox, str]) -> None:
    _, url = sandbox
    code, out, _ = invoke("ledger", "status", "--json")
    assert (code, json.loads(out)) == (
        0,
        {"exit_code": 0, "state_dir": ".relimport", "ledgers": []},
    )
    assert invoke("run", "samples/relations.csv", "--base-url", url)[0] == 0
    code, out, _ = invoke("ledger", "status", "--json")
    found = json.loads(out)
    assert code == 0 and out.count("\n") == 1
    [ledger] = found["ledgers"]
    assert re.fullmatch(
        rf"\.relimport/ledger-127\.0\.0\.1-{DEMO_LOCATION}-[0-9a-f]{{8}}\.sqlite", ledger["path"]
    )
    assert (ledger["target"], ledger["location"]) == (url, DEMO_LOCATION)
    assert ledger["size"] > 0
    [association] = ledger["associations"]
    oldest = association.pop("oldest_confirmation")
    assert association == {
        "association_id": STUDENT_TEACHER_ID,
        "key": "student_teacher",
        "pairs": 20,
        "made_by_relimport": 18,
    }
    assert datetime.fromisoformat(oldest).tzinfo is not None


def test_verify_and_forget_with_json_print_one_object(
    in_repo: Path, sandbox: tuple[Sandbox, str]
) -> None:
    server, url = sandbox
    assert invoke("run", "samples/relations.csv", "--base-url", url)[0] == 0
    delete(server, server.relations(DEMO_LOCATION)[0]["id"])
    code, out, err = invoke("ledger", "verify", "--base-url", url, "--json")
    assert (code, err, out.count("\n")) == (0, "", 1)
    assert json.loads(out) == {
        "exit_code": 0,
        "target": url,
        "location": DEMO_LOCATION,
        "records": 8,
        "confirmed": 19,
        "forgotten": 1,
        "refused": 0,
    }
    code, out, _ = invoke(
        "ledger", "forget", "--base-url", url, "--location", DEMO_LOCATION, "--json"
    )
    assert (code, json.loads(out)) == (
        0,
        {"exit_code": 0, "location": DEMO_LOCATION, "association": None, "forgotten": 19},
    )
    code, out, _ = invoke("ledger", "forget", "--base-url", url, "--location", "x", "--json")
    assert code == 2 and json.loads(out)["exit_code"] == 2
