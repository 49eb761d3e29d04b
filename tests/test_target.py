"""Where requests go (:func:`importer.api.connect`), their pace (:func:`limiter_for`) and the
tokens a run needs before its first request (:func:`check_tokens`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from importer.api import check_tokens, connect, limiter_for
from importer.config import load_settings
from importer.errors import AuthError, ConfigError
from importer.sandbox import (
    DEMO_LOCATION,
    DEMO_TOKEN,
    OPPORTUNITIES_CONTACTS,
    OTHER_LOCATION,
    Sandbox,
)
from tests.conftest import FakeTime, demo_settings

pytestmark = pytest.mark.anyio
URL = "https://api.example"


async def test_the_sandbox_target_serves_each_demo_location_with_its_own_token() -> None:
    sandbox = Sandbox()
    settings = demo_settings(Path())
    client = connect(settings, limiter_for(settings), transport=sandbox.transport())
    try:
        assert client.base_url == "https://sandbox.invalid"
        for location in (DEMO_LOCATION, OTHER_LOCATION):
            keys = [a.key for a in await client.list_associations(location)]
            assert OPPORTUNITIES_CONTACTS in keys
        assert client.requests() == {DEMO_LOCATION: 1, OTHER_LOCATION: 1}
    finally:
        await client.aclose()
    assert sandbox.stats(OTHER_LOCATION).requests == 1


async def test_one_token_set_serves_only_the_locations_it_may_access() -> None:
    settings = demo_settings(Path()).model_copy(update={"token": SecretStr(DEMO_TOKEN)})
    client = connect(settings, limiter_for(settings), transport=Sandbox().transport())
    try:
        assert await client.list_associations(DEMO_LOCATION)
        with pytest.raises(AuthError):
            await client.list_associations(OTHER_LOCATION)
    finally:
        await client.aclose()
    assert DEMO_TOKEN not in repr(client)


def test_a_url_without_a_token_is_refused_before_any_request() -> None:
    settings = demo_settings(Path(), target=URL)
    with pytest.raises(ConfigError) as caught:
        connect(settings, limiter_for(settings))
    assert str(caught.value) == (
        "No API token: set the environment variable LEADWAY_TOKEN to the location's token "
        "(a Private Integration token or an OAuth access token)."
    )
    with_token = load_settings(
        flags={"target": URL, "location_id": DEMO_LOCATION}, environ={"LEADWAY_TOKEN": "t0k"}
    )
    client = connect(with_token, limiter_for(with_token))
    assert client.base_url == URL and "t0k" not in repr(client)


def test_check_tokens_names_every_location_no_token_serves() -> None:
    flags = {"target": URL, "token_env_by_location": {OTHER_LOCATION: "OTHER_VAR"}}
    settings = load_settings(flags=flags, environ={})
    with pytest.raises(ConfigError) as caught:
        check_tokens(settings, [OTHER_LOCATION, DEMO_LOCATION, DEMO_LOCATION], "in.csv")
    assert str(caught.value) == (
        f"in.csv: location {DEMO_LOCATION} has no token: set LEADWAY_TOKEN, or map the "
        "location to the variable holding its token in token_env_by_location; the environment "
        f"variable OTHER_VAR, which token_env_by_location names for location {OTHER_LOCATION}, "
        "is not set. Nothing was sent."
    )
    served = load_settings(flags=flags, environ={"OTHER_VAR": "a", "LEADWAY_TOKEN": "b"})
    check_tokens(served, [OTHER_LOCATION, DEMO_LOCATION], "in.csv")  # every one served
    check_tokens(demo_settings(Path()), [DEMO_LOCATION, "anywhere"], "in.csv")  # the sandbox


async def test_the_limiter_paces_each_location_as_the_settings_say() -> None:
    time = FakeTime()
    settings = demo_settings(
        Path(), rate_limit={"max_requests": 7, "window_seconds": 2, "daily_limit": 500}
    )
    limiter = limiter_for(settings, sleep=time.sleep)
    for location in (DEMO_LOCATION, OTHER_LOCATION, DEMO_LOCATION):
        permit = await limiter.location(location).acquire()
        permit.release(201, {})
    assert time.now == 0  # well inside 7 requests per 2 s: nobody waited
    demo, other = limiter.stats[DEMO_LOCATION], limiter.stats[OTHER_LOCATION]
    assert (demo.requests, demo.effective_max, demo.window_seconds) == (2, 7, 2)
    assert (demo.daily_limit, demo.daily_remaining) == (500, 498)
    assert (other.requests, other.daily_remaining) == (1, 499)  # a budget of its own
