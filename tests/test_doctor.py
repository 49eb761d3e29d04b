"""``relimport doctor``: one line per check, exit 0 only when a run would start."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from importer.config import RateLimitSettings, Settings
from importer.sandbox import (
    DEMO_LOCATION,
    DEMO_TOKEN,
    OTHER_TOKEN,
    READONLY_TOKEN,
    FaultPlan,
    Sandbox,
)
from importer.setup import Finding, diagnose
from tests.helpers import invoke

TOKEN_OK = "ok       token: the built-in sandbox accepts the token in $LEADWAY_TOKEN.\n"
REACHED = (
    "ok       location: the token may act for location ldwDemoLocation00001.\n"
    "ok       read associations: the token may read the location's associations.\n"
)
ASSOCIATION_OK = (
    "ok       association: student_teacher (id 67c1f2a3b4c5d6e7f8a90001): Student "
    "(custom_objects.students) -> Teacher (contact).\n"
)
READ_OK = (
    "ok       read relations: the token may read relations (a run needs it to check creates "
    "whose answer was lost; undo needs it too).\n"
)
WRITE_OK = (
    "ok       create relations: the token may create relations (checked with an empty create "
    "the API refuses: nothing was written).\n"
)
WOULD_START = "A run would start.\n"
WOULD_NOT = "A run would not start: fix the problems above, then run relimport doctor again.\n"


def budget(left: int) -> str:
    return (
        f"ok       rate limit: {left - 199_900} requests left in the API's current 10-second "
        "window; relimport sends at most 100 per 10 seconds.\n"
        f"ok       daily budget: {left:,} requests left today for location ldwDemoLocation00001 "
        f"(all its integrations share them): room for about {left:,} new relations.\n"
    )


def test_all_ok_against_the_sandbox(in_repo: Path) -> None:
    code, out, err = invoke("doctor")
    assert (code, err) == (0, "")
    assert out == (
        "ok       token: the built-in sandbox accepts its demo token ($LEADWAY_TOKEN is not "
        "set).\n" + REACHED + ASSOCIATION_OK + READ_OK + WRITE_OK + budget(199_997) + WOULD_START
    )


def test_all_ok_through_a_real_socket(in_repo: Path, server_url: str) -> None:
    code, out, _ = invoke("doctor", "--base-url", server_url)
    assert code == 0
    assert out.startswith(
        f"ok       token: the API at {server_url} accepts the token in $LEADWAY_TOKEN.\n"
    )
    assert out.endswith(WRITE_OK + budget(199_997) + WOULD_START)


def test_a_read_only_token_lacks_the_write_scope(
    in_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADWAY_TOKEN", READONLY_TOKEN)
    code, out, _ = invoke("doctor")
    assert code == 2
    assert out == (
        TOKEN_OK
        + REACHED
        + ASSOCIATION_OK
        + READ_OK
        + "problem  create relations: the token lacks the scope associations/relation.write. "
        "In the CRM, give the Private Integration (or the app) this scope, then put the new "
        "token in $LEADWAY_TOKEN.\n"
        + budget(199_998)  # the refused create used no budget
        + WOULD_NOT
    )
    assert READONLY_TOKEN not in out


def test_a_token_of_another_location_is_refused_there(
    in_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADWAY_TOKEN", OTHER_TOKEN)
    code, out, _ = invoke("doctor")
    assert (code, out) == (
        2,
        "ok       token: the API accepts the token.\n"
        "problem  location: the token in $LEADWAY_TOKEN may not act for location "
        "ldwDemoLocation00001. Check location_id (--location-id), or put a token of that "
        "location in $LEADWAY_TOKEN.\n" + WOULD_NOT,
    )


def test_an_unknown_association_lists_those_there(in_repo: Path) -> None:
    code, out, _ = invoke("doctor", "--association", "student_techer")
    assert code == 2
    assert (
        "problem  association: The association 'student_techer' does not exist in location "
        "ldwDemoLocation00001. Associations there: student_teacher (67c1f2a3b4c5d6e7f8a90001), "
        "OPPORTUNITIES_CONTACTS_ASSOCIATION (OPPORTUNITIES_CONTACTS_ASSOCIATION), "
        "BUSINESSES_CONTACTS_ASSOCIATION (BUSINESSES_CONTACTS_ASSOCIATION). "
        "Set association to one of these keys or ids.\n"
    ) in out
    assert out.endswith(READ_OK + WRITE_OK + budget(199_995) + WOULD_NOT)


def test_a_bad_token_stops_at_the_first_line(
    in_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEADWAY_TOKEN", "pit-not-a-token")
    code, out, _ = invoke("doctor")
    assert (code, out) == (
        2,
        "problem  token: the API refused the token in $LEADWAY_TOKEN (401): it is wrong, "
        "revoked or expired. Put a valid token of the location in $LEADWAY_TOKEN.\n" + WOULD_NOT,
    )


class Untouchable(httpx.AsyncBaseTransport):
    """Fails the test if any request is made."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise AssertionError(f"no request expected, got {request.method} {request.url}")


@pytest.mark.anyio
@pytest.mark.parametrize("location", [DEMO_LOCATION, None])
async def test_no_token_for_a_real_url_sends_nothing(location: str | None) -> None:
    settings = Settings(target="http://127.0.0.1:9", location_id=location)
    findings = await diagnose(settings, Untouchable())
    assert findings[0] == Finding(
        "token",
        False,
        "No API token: set the environment variable LEADWAY_TOKEN to the location's token "
        "(a Private Integration token or an OAuth access token).",
    )
    assert [f.check for f in findings] == ["token"] + ([] if location else ["location"])


def test_no_token_for_a_real_url_on_the_command_line(in_repo: Path) -> None:
    code, out, _ = invoke("doctor", "--base-url", "http://127.0.0.1:9")
    assert (code, out) == (
        2,
        "problem  token: No API token: set the environment variable LEADWAY_TOKEN to the "
        "location's token (a Private Integration token or an OAuth access token).\n" + WOULD_NOT,
    )


def settings(**changes: object) -> Settings:
    values: dict[str, object] = {
        "location_id": DEMO_LOCATION,
        "association": "student_teacher",
        "token": SecretStr(DEMO_TOKEN),
    }
    return Settings.model_validate({**values, **changes})


@pytest.mark.anyio
async def test_the_requests_write_nothing_and_are_few() -> None:
    sandbox = Sandbox()
    before = sandbox.relations(DEMO_LOCATION)
    findings = await diagnose(settings(), sandbox.transport())
    assert all(finding.ok for finding in findings)
    assert sandbox.relations(DEMO_LOCATION) == before
    assert sandbox.stats(DEMO_LOCATION).by_route == {
        "GET /associations/key/{key_name}": 1,
        "GET /associations/relations/{recordId}": 1,
        "POST /associations/relations": 1,
    }


@pytest.mark.anyio
async def test_a_spent_daily_budget_is_a_problem() -> None:
    reserve = RateLimitSettings(daily_reserve=199_998)
    findings = await diagnose(settings(rate_limit=reserve), Sandbox().transport())
    assert findings[-1] == Finding(
        "daily budget",
        False,
        f"location {DEMO_LOCATION}: the daily request budget is spent (2 of 200000 requests "
        "used, 2 of them by this run; 199998 left, 199998 kept in reserve). The daily budget "
        "resets each day: run again later to send the rest.",
    )


@pytest.mark.anyio
async def test_without_rate_limit_headers_the_configured_limits_are_said() -> None:
    sandbox = Sandbox(faults=FaultPlan(rate_limit_headers=False))
    findings = await diagnose(settings(), sandbox.transport())
    assert findings[-2:] == [
        Finding(
            "rate limit",
            True,
            "the API sent no X-RateLimit-* headers; relimport keeps to the configured 100 "
            "requests per 10 seconds.",
        ),
        Finding(
            "daily budget",
            True,
            "the API did not report it; relimport assumes 200,000 requests per day for this "
            "location.",
        ),
    ]


@pytest.mark.anyio
async def test_a_lookup_the_side_cannot_take_is_a_problem() -> None:
    """Students (a custom object) are found by id or a property, never by email: the same
    check a run makes before its first look-up."""
    findings = await diagnose(settings(first_lookup="email"), Sandbox().transport())
    (lookups,) = [finding for finding in findings if finding.check == "lookups"]
    assert not lookups.ok
    assert lookups.message.startswith(
        "first_lookup is 'email', but the first side of association student_teacher holds "
        "custom_objects.students records"
    )


@pytest.mark.anyio
async def test_a_lookup_that_fits_says_so() -> None:
    findings = await diagnose(
        settings(first_column="Student email", first_lookup="student_email"),
        Sandbox().transport(),
    )
    assert (
        Finding(
            "lookups",
            True,
            "first_lookup 'student_email' fits custom_objects.students records and second_lookup "
            "'id' fits contact records.",
        )
        in findings
    )
