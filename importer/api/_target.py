"""Where requests go: the settings turned into a rate limiter and a client.

``target: sandbox`` (the default) means the in-process emulator, with its demo token when no
token is set; anything else is a base URL and needs the token from the environment.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

import httpx
from pydantic import SecretStr

from importer.api._client import Client
from importer.api._ratelimit import RateLimiter, RateLimits
from importer.config import Settings
from importer.errors import ConfigError
from importer.timing import Clock, Sleep

SANDBOX_URL = "https://sandbox.invalid"


def limiter_for(
    settings: Settings, *, sleep: Sleep = asyncio.sleep, clock: Clock = time.monotonic
) -> RateLimiter:
    limits = settings.rate_limit
    return RateLimiter(
        RateLimits(
            max_requests=limits.max_requests,
            window_seconds=limits.window_seconds,
            daily_limit=limits.daily_limit,
            daily_reserve=limits.daily_reserve,
        ),
        sleep=sleep,
        clock=clock,
    )


def check_tokens(settings: Settings, locations: Iterable[str], where: str) -> None:
    """ConfigError, before any request, naming each location of ``where`` that no token
    serves and the variable to set (the sandbox has its demo tokens)."""
    mapped = settings.token_env_by_location
    problems = []
    for location in sorted(set(locations)):
        if location in mapped and location not in settings.location_tokens:
            problems.append(
                f"the environment variable {mapped[location]}, which token_env_by_location "
                f"names for location {location}, is not set"
            )
        elif location not in mapped and settings.token is None and not settings.is_sandbox:
            problems.append(
                f"location {location} has no token: set {settings.token_env}, or map the "
                "location to the variable holding its token in token_env_by_location"
            )
    if problems:
        raise ConfigError(f"{where}: " + "; ".join(problems) + ". Nothing was sent.")


def connect(
    settings: Settings,
    limiter: RateLimiter,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Client:
    """A client for the configured target (the in-process sandbox when target is 'sandbox')."""
    token = settings.token
    base_url = settings.target
    variables = settings.token_env_by_location
    tokens = {
        location: (secret, variables[location])
        for location, secret in settings.location_tokens.items()
    }
    if settings.is_sandbox:
        from importer.sandbox import ALL_SCOPES, DEMO_TOKEN, Sandbox, demo_seed

        base_url = SANDBOX_URL
        transport = transport or Sandbox().transport()
        if token is None:  # no token set: each demo location with its own demo token
            for demo in demo_seed().tokens:
                if demo.scopes == ALL_SCOPES:
                    tokens.setdefault(demo.locations[0], (SecretStr(demo.value), "(sandbox)"))
        token = token or SecretStr(DEMO_TOKEN)
    if token is None and not settings.location_tokens:
        raise ConfigError(
            f"No API token: set the environment variable {settings.token_env} to the location's "
            "token (a Private Integration token or an OAuth access token)."
        )
    return Client(
        base_url=base_url,
        token=token,
        api_version=settings.api_version,
        limiter=limiter,
        token_env=settings.token_env,
        tokens=tokens,
        connect_timeout=settings.timeouts.connect,
        read_timeout=settings.timeouts.read,
        max_connections=None,  # a pool per location: its workers bound it
        transport=transport,
    )
