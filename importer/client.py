"""A typed async client of the API endpoints relimport uses, and ``classify()`` of answers.

Every request goes through the location's rate limiter (acquire before sending, release with
the answer's status and headers), so the limiter sees every request the run makes, look-ups
included. The client raises only :class:`importer.errors.ApiError` subclasses; which one is
decided by the pure :func:`classify`, in one place.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from importer.errors import (
    ApiError,
    AuthError,
    DuplicateRelationError,
    RateLimitedError,
    RejectedError,
    RetryableError,
)
from importer.models import Association, Pair
from importer.ratelimit import RateLimiter, retry_after

PAGE = 100
LOG = logging.getLogger("relimport.http")
_ID_LIKE = re.compile(r"[0-9a-f]{24}|[A-Z][A-Z0-9_]+|[0-9a-fA-F-]{36}")


def classify(status: int, message: str) -> type[ApiError] | None:
    """The error class for an answer, or None when it is a success.

    401 means three different things (bad token, missing scope) and 403 a token that may not
    touch the location: all stop the run. The duplicate-relation 400 is the API's way of
    saying "already exists" (it is not idempotent).
    """
    if 200 <= status < 300:
        return None
    if status == 400 and "duplicate relation" in message.lower():
        return DuplicateRelationError
    if status in (401, 403):
        return AuthError
    if status == 429:
        return RateLimitedError
    if status in (408, 425) or status >= 500:
        return RetryableError
    return RejectedError


def _message(response: httpx.Response) -> str:
    """The API's message for a person: one line, no control characters."""
    return " ".join(_raw_message(response).split())


def _raw_message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200].strip() or response.reason_phrase
    message = body.get("message") if isinstance(body, dict) else None
    if isinstance(message, list):
        return "; ".join(str(part) for part in message)
    return str(message) if message else response.reason_phrase


def _auth_message(status: int, message: str, location_id: str, token_env: str) -> str:
    if "scope" in message.lower():
        return (
            f"The API says the token is not authorized for this operation ({status} {message}). "
            f"Give the token in ${token_env} the associations scopes it needs."
        )
    if status == 403:
        return (
            f"The token may not access location {location_id} ({status} {message}). "
            f"Check location_id, or use a token of that location in ${token_env}."
        )
    return (
        f"The API refused the token ({status} {message}). "
        f"Put a valid, unexpired token in the environment variable ${token_env}."
    )


class Client:
    """The API seen from relimport. ``transport`` is the seam for the sandbox and tests."""

    def __init__(
        self,
        *,
        base_url: str,
        token: SecretStr,
        api_version: str,
        limiter: RateLimiter,
        token_env: str = "LEADWAY_TOKEN",
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
        max_connections: int = 16,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._token_env = token_env
        #: The API's clock minus ours, in seconds, from the last Date header (None: unknown).
        self.clock_offset: float | None = None
        self._limiter = limiter
        self._http = httpx.AsyncClient(
            base_url=base_url,
            headers={
                "Authorization": f"Bearer {token.get_secret_value()}",
                "Version": api_version,
                "Accept": "application/json",
            },
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=max_connections),
            transport=transport,
        )

    def _note_clock(self, date: str | None) -> None:
        """Remember how far the API's clock is from ours (its Date header, to the second)."""
        if not date:
            return
        try:
            server = parsedate_to_datetime(date).timestamp()
        except (TypeError, ValueError, IndexError):
            return
        self.clock_offset = server - time.time()

    def __repr__(self) -> str:
        return f"Client(base_url={str(self._http.base_url)!r})"

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(
        self,
        method: str,
        path: str,
        location_id: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Mapping[str, Any] | None = None,
    ) -> Any:
        permit = await self._limiter.location(location_id).acquire()
        started = time.monotonic()
        try:
            response = await self._http.request(method, path, params=params, json=json)
        except httpx.TransportError as error:
            permit.release(None, None)
            _log(method, path, location_id, None, started, type(error).__name__)
            raise _network_error(error) from None
        except BaseException:  # cancelled: free the slot, then let it through
            permit.release(None, None)
            raise
        permit.release(response.status_code, response.headers)
        _log(
            method,
            path,
            location_id,
            response.status_code,
            started,
            None,
            response.headers.get("X-RateLimit-Remaining"),
        )
        self._note_clock(response.headers.get("Date"))
        error_class = classify(
            response.status_code, "" if response.is_success else _message(response)
        )
        if error_class is None:
            try:
                return response.json() if response.content else {}
            except ValueError:  # a success we cannot read: it may have written
                raise RetryableError(
                    f"the API answered {response.status_code} with a body that is not JSON",
                    status=response.status_code,
                    maybe_written=True,
                ) from None
        message = _message(response)
        wait = retry_after(response.headers)
        if error_class is AuthError:
            message = _auth_message(response.status_code, message, location_id, self._token_env)
        if issubclass(error_class, RetryableError):
            raise error_class(
                message,
                status=response.status_code,
                retry_after=wait,
                maybe_written=response.status_code >= 500,
            )
        raise error_class(message, status=response.status_code, retry_after=wait)

    async def list_associations(self, location_id: str) -> list[Association]:
        found: list[Association] = []
        while True:
            body = await self._request(
                "GET",
                "/associations/",
                location_id,
                params={"locationId": location_id, "skip": len(found), "limit": PAGE},
            )
            page = body.get("associations", []) if isinstance(body, dict) else body
            found.extend(_association(item) for item in page)
            if len(page) < PAGE:
                return found

    async def get_association(self, location_id: str, key_or_id: str) -> Association | None:
        """The association with this id or key, or None when neither exists."""
        by_id: tuple[str, dict[str, str]] = (f"/associations/{quote(key_or_id, safe='')}", {})
        by_key = (f"/associations/key/{quote(key_or_id, safe='')}", {"locationId": location_id})
        # Ask first in the way the value looks (an id: 24 hex or a system constant): one request.
        looks_like_id = bool(_ID_LIKE.fullmatch(key_or_id))
        attempts = [by_id, by_key] if looks_like_id else [by_key, by_id]
        for path, params in attempts:
            try:
                body = await self._request("GET", path, location_id, params=params)
            except RejectedError:
                continue
            if isinstance(body, dict) and body.get("id"):
                return _association(body)
        return None

    async def create_relation(self, location_id: str, association_id: str, pair: Pair) -> str:
        """Create one relation; return its id. Raises DuplicateRelationError when it exists."""
        body = await self._request(
            "POST",
            "/associations/relations",
            location_id,
            json={
                "locationId": location_id,
                "associationId": association_id,
                "firstRecordId": pair.first_id,
                "secondRecordId": pair.second_id,
            },
        )
        return str(body.get("id", "")) if isinstance(body, dict) else ""

    async def find_relation(self, location_id: str, association_id: str, pair: Pair) -> str | None:
        """The id of the relation linking this pair under the association, if it exists."""
        skip = 0
        while True:
            body = await self._request(
                "GET",
                f"/associations/relations/{quote(pair.first_id, safe='')}",
                location_id,
                params={
                    "locationId": location_id,
                    "skip": skip,
                    "limit": PAGE,
                    "associationIds": [association_id],
                },
            )
            relations = body.get("relations", []) if isinstance(body, dict) else []
            for relation in relations:
                if (
                    relation.get("firstRecordId") == pair.first_id
                    and relation.get("secondRecordId") == pair.second_id
                ):
                    return str(relation.get("id", ""))
            if len(relations) < PAGE:
                return None
            skip += PAGE

    async def delete_relation(self, location_id: str, relation_id: str) -> None:
        await self._request(
            "DELETE",
            f"/associations/relations/{quote(relation_id, safe='')}",
            location_id,
            params={"locationId": location_id},
        )


def _log(
    method: str,
    path: str,
    location_id: str,
    status: int | None,
    started: float,
    failure: str | None,
    remaining: str | None = None,
) -> None:
    """One debug event per request: what was asked and answered, never a header or a body."""
    if not LOG.isEnabledFor(logging.DEBUG):
        return
    milliseconds = round((time.monotonic() - started) * 1000)
    LOG.debug(
        "%s %s -> %s in %d ms",
        method,
        path,
        status if status is not None else failure,
        milliseconds,
        extra={
            "event": "request",
            "method": method,
            "path": path,
            "location_id": location_id,
            "status": status,
            "failure": failure,
            "ms": milliseconds,
            "rate_limit_remaining": remaining,
        },
    )


def _network_error(error: httpx.TransportError) -> RetryableError:
    """No answer came. ``maybe_written`` unless the request surely never left."""
    name = type(error).__name__
    if isinstance(error, httpx.ConnectTimeout | httpx.PoolTimeout):
        return RetryableError(f"no connection within the timeout ({name})")
    if isinstance(error, httpx.TimeoutException):
        return RetryableError(f"no answer within the timeout ({name})", maybe_written=True)
    if isinstance(error, httpx.ConnectError):
        return RetryableError(
            f"could not connect to the API ({error}): check the target (--base-url) and the network"
        )
    return RetryableError(f"the connection dropped before an answer ({name})", maybe_written=True)


def _association(item: Mapping[str, Any]) -> Association:
    return Association(
        id=str(item.get("id", "")),
        key=str(item.get("key", "")),
        first_object_key=str(item.get("firstObjectKey", "")),
        first_object_label=str(item.get("firstObjectLabel", "")),
        second_object_key=str(item.get("secondObjectKey", "")),
        second_object_label=str(item.get("secondObjectLabel", "")),
        association_type=str(item.get("associationType", "")),
    )
