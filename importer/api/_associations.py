"""Associations, fetched by key or id and listed: for runs, ``doctor``, ``init`` and
``relimport associations`` alike.
"""

from __future__ import annotations

import asyncio

import httpx

from importer.api._client import Client
from importer.api._retries import Retries, RetryPolicy
from importer.api._target import connect, limiter_for
from importer.config import Settings
from importer.errors import ConfigError
from importer.models import Association


def list_associations(
    settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
) -> list[Association]:
    """The associations of the configured location (``relimport associations``)."""
    if not settings.location_id:
        raise ConfigError("No location: set location_id in config.yaml or pass --location-id.")
    location = settings.location_id

    async def fetch() -> list[Association]:
        client = connect(settings, limiter_for(settings), transport=transport)
        try:
            retries = Retries(RetryPolicy.of(settings))

            async def listing() -> list[Association]:
                return await client.list_associations(location)

            return await retries(listing)
        finally:
            await client.aclose()

    return asyncio.run(fetch())


async def find_association(
    client: Client, location_id: str, key_or_id: str, retries: Retries
) -> Association | None:
    async def fetch() -> Association | None:
        return await client.get_association(location_id, key_or_id)

    return await retries(fetch)


async def fetch_association(
    client: Client, location_id: str, key_or_id: str, retries: Retries
) -> Association:
    """The association by key or id, retried like any request; ConfigError listing the
    location's associations when it is not there (runs, ``doctor`` and ``init`` alike)."""

    async def listing() -> list[Association]:
        return await client.list_associations(location_id)

    association = await find_association(client, location_id, key_or_id, retries)
    if association is not None:
        return association
    known = await retries(listing)
    listed = ", ".join(f"{a.key} ({a.id})" for a in known) or "none"
    raise ConfigError(
        f"The association '{key_or_id}' does not exist in location {location_id}. "
        f"Associations there: {listed}. Set association to one of these keys or ids."
    )
