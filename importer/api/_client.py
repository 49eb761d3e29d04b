"""A typed async client of the API endpoints relimport uses, and ``classify()`` of answers.

Every request goes through the location's rate limiter (acquire before sending, release with
the answer's status and headers), so the limiter sees every request the run makes, look-ups
included. The client raises only :class:`importer.errors.ApiError` subclasses; which one is
decided by the pure :func:`classify`, in one place.
"""

from __future__ import annotations

import logging
import os
import re
import ssl
import time
from collections.abc import AsyncIterator, Mapping
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import SecretStr

from importer.api._ratelimit import RateLimiter, retry_after
from importer.errors import (
    ApiError,
    AuthError,
    ConfigError,
    DuplicateRelationError,
    RateLimitedError,
    RejectedError,
    RetryableError,
    UnreachableError,
)
from importer.models import Association, Pair

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


def auth_message(status: int, message: str, location_id: str, token_env: str) -> str:
    if "scope" in message.lower():
        return (
            f"The API says the token is not authorized for this operation ({status} {message}). "
            f"Give the token in ${token_env} the scopes it needs: associations.readonly and "
            "associations/relation.write (and .readonly) for every run; for look-ups and record "
            "checks also contacts.readonly, objects/record.readonly, opportunities.readonly "
            "or businesses.readonly, as the records are. relimport doctor checks a token."
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
        token: SecretStr | None,
        api_version: str,
        limiter: RateLimiter,
        token_env: str = "LEADWAY_TOKEN",
        tokens: Mapping[str, tuple[SecretStr, str]] | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 30.0,
        max_connections: int | None = 16,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._token_env = token_env
        self._token = token
        #: Location -> (its own token, the environment variable it came from).
        self._tokens = dict(tokens or {})
        self._date: tuple[str, float] | None = None  # the last Date header, our clock then
        self._limiter = limiter
        self._options: dict[str, Any] = {
            "base_url": base_url,
            "headers": {"Version": api_version, "Accept": "application/json"},
            "timeout": httpx.Timeout(read_timeout, connect=connect_timeout),
            "limits": httpx.Limits(  # None: as many as the location's workers need
                max_connections=max_connections, max_keepalive_connections=max_connections
            ),
        }
        if transport is None:  # one TLS set-up for every pool (25 ms each otherwise)
            self._options["verify"] = _tls(base_url)
        self._http = httpx.AsyncClient(**self._options, transport=transport)
        #: Per location: its connections and the headers each of its requests adds. A pool
        #: per location: httpcore scans every connection of a pool per request, so one large
        #: shared pool costs CPU that grows with the locations; the location's token is then
        #: one of the pool's own headers. A transport given (the sandbox, tests) is one object:
        #: every location shares it, and each request carries its location's token.
        self._routes: dict[str, tuple[httpx.AsyncClient, dict[str, str] | None, str]] = {}
        self._shared = transport is not None
        #: The create's URL, whole: merging a path with the base URL parses it, per request.
        self._create_url = _merge(self._http.base_url, "/associations/relations")

    @property
    def clock_offset(self) -> float | None:
        """The API's clock minus ours, in seconds, from the last Date header (None: unknown).
        The header is kept as text and read only when asked (rarely: a row in doubt)."""
        if self._date is None:
            return None
        date, ours = self._date
        try:
            return parsedate_to_datetime(date).timestamp() - ours
        except (TypeError, ValueError, IndexError):
            return None

    def __repr__(self) -> str:
        return f"Client(base_url={self.base_url!r})"

    @property
    def base_url(self) -> str:
        return str(self._http.base_url).rstrip("/")

    def requests(self) -> dict[str, int]:
        """Requests started so far, per location (every kind: look-ups, creates...)."""
        return {location: stats.requests for location, stats in self._limiter.stats.items()}

    async def aclose(self) -> None:
        for pool, _, _ in self._routes.values():
            if pool is not self._http:
                await pool.aclose()
        await self._http.aclose()

    def _route(self, location_id: str) -> tuple[httpx.AsyncClient, dict[str, str] | None, str]:
        """A location's connections, the headers its requests add (None: none, the token is
        the pool's own), and the variable its token came from; built on its first request."""
        route = self._routes.get(location_id)
        if route is not None:
            return route
        token, token_env = self._tokens.get(location_id, (self._token, self._token_env))
        if token is None:
            raise ConfigError(
                f"No API token for location {location_id}: set the environment variable "
                f"{token_env}, or map the location to a variable in token_env_by_location."
            )
        authorization = {"Authorization": f"Bearer {token.get_secret_value()}"}
        if self._shared:
            route = (self._http, authorization, token_env)
        else:
            headers = {**self._options["headers"], **authorization}
            route = (httpx.AsyncClient(**{**self._options, "headers": headers}), None, token_env)
        self._routes[location_id] = route
        return route

    async def _request(
        self,
        method: str,
        path: str,
        location_id: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Mapping[str, Any] | None = None,
        url: httpx.URL | None = None,
    ) -> Any:
        """One request to ``path`` (``url``: the same, merged with the base URL already)."""
        pool, headers, token_env = self._route(location_id)
        permit = await self._limiter.location(location_id).acquire()
        started = time.monotonic()
        try:
            response = await pool.request(
                method, url or path, params=params, json=json, headers=headers
            )
        except httpx.TransportError as error:
            permit.release(None, None)
            _log(method, path, location_id, None, started, type(error).__name__)
            raise _network_error(error, self._http.base_url) from None
        except BaseException:  # cancelled: free the slot, then let it through
            permit.release(None, None)
            raise
        answered = dict(response.headers.items())  # names in lower case: read once, not per get
        permit.release(response.status_code, answered)
        if LOG.isEnabledFor(logging.DEBUG):
            remaining = answered.get("x-ratelimit-remaining")
            _log(method, path, location_id, response.status_code, started, None, remaining)
        date = answered.get("date")
        if date:
            self._date = (date, time.time())
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
        wait = retry_after(answered)
        if error_class is AuthError:
            message = auth_message(response.status_code, message, location_id, token_env)
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
            url=self._create_url,
        )
        return str(body.get("id", "")) if isinstance(body, dict) else ""

    async def probe_create(self, location_id: str) -> None:
        """A create with no record ids: the API refuses it after checking the token's scope
        (401 without relation write, a 4xx with it), so it proves the scope and writes
        nothing (``relimport doctor``)."""
        await self._request(
            "POST", "/associations/relations", location_id, json={"locationId": location_id}
        )

    async def find_relation(self, location_id: str, association_id: str, pair: Pair) -> str | None:
        """The id of the relation linking this pair under the association, if it exists."""
        async for found, relation_id in self.relations_of(
            location_id, association_id, pair.first_id
        ):
            if found == pair:
                return relation_id
        return None

    async def relations_of(
        self, location_id: str, association_id: str, record_id: str
    ) -> AsyncIterator[tuple[Pair, str]]:
        """Every relation of a record (on either side) under the association: (pair, id).
        One request per page of :data:`PAGE`; stop iterating to stop asking."""
        skip = 0
        while True:
            body = await self._request(
                "GET",
                f"/associations/relations/{quote(record_id, safe='')}",
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
                if relation.get("associationId", association_id) == association_id:
                    pair = Pair(
                        str(relation.get("firstRecordId", "")),
                        str(relation.get("secondRecordId", "")),
                    )
                    yield pair, str(relation.get("id", ""))
            if len(relations) < PAGE:
                return
            skip += PAGE

    async def record_exists(self, location_id: str, object_key: str, record_id: str) -> bool:
        """Whether the location has a record of this kind with this id. Not there (the API
        may say 400, 404 or 422, or 403 for a record of another location) is False."""
        path, envelope = _record_path(object_key, record_id)
        try:
            body = await self._request("GET", path, location_id)
        except RejectedError:
            return False
        except AuthError as error:
            if error.status == 403:  # the location was checked already: the record is elsewhere
                return False
            raise
        record = body.get(envelope) if isinstance(body, dict) else None
        return (
            isinstance(record, dict)
            and str(record.get("id", record_id)) == record_id
            and str(record.get("locationId") or location_id) == location_id
        )

    async def find_contacts(
        self, location_id: str, *, email: str = "", phone: str = ""
    ) -> list[str]:
        """Ids of the contacts with this email (ignoring case) or phone (E.164), through the
        contact search: several means the key is ambiguous (the duplicate search would pick
        one of them without saying so)."""
        field, value = ("email", email) if email else ("phone", phone)
        body = await self._request(
            "POST",
            "/contacts/search",
            location_id,
            json={
                "locationId": location_id,
                "page": 1,
                "pageLimit": 10,
                "filters": [{"field": field, "operator": "eq", "value": value}],
            },
        )
        contacts = body.get("contacts", []) if isinstance(body, dict) else []
        return [str(c["id"]) for c in contacts if isinstance(c, dict) and c.get("id")]

    async def find_records(
        self, location_id: str, schema_key: str, prop: str, value: str
    ) -> list[str]:
        """Ids of the custom object records whose property ``prop`` is ``value`` (both ignoring
        case, the value its surrounding blanks). The search is by text; the match is ours."""
        wanted, key, found, page = value.strip().lower(), prop.lower(), [], 1
        while True:
            body = await self._request(
                "POST",
                f"/objects/{quote(schema_key, safe='')}/records/search",
                location_id,
                json={"locationId": location_id, "page": page, "pageLimit": PAGE, "query": value},
            )
            records = body.get("records", []) if isinstance(body, dict) else []
            for record in records:
                props = record.get("properties") if isinstance(record, dict) else None
                values = props.items() if isinstance(props, dict) else ()
                if any(
                    str(k).lower() == key and str(v).strip().lower() == wanted for k, v in values
                ):
                    found.append(str(record.get("id", "")))
            if len(records) < PAGE:
                return found
            page += 1

    async def get_object_schema(self, location_id: str, object_key: str) -> Any:
        """``GET /objects/{key}`` with its properties (``fetchProperties``): the body as it came
        (see :func:`importer.api.fetch_object_schema`)."""
        return await self._request(
            "GET",
            f"/objects/{quote(object_key, safe='')}",
            location_id,
            params={"locationId": location_id, "fetchProperties": "true"},
        )

    async def delete_relation(self, location_id: str, relation_id: str) -> None:
        await self._request(
            "DELETE",
            f"/associations/relations/{quote(relation_id, safe='')}",
            location_id,
            params={"locationId": location_id},
        )


def _tls(base_url: str) -> ssl.SSLContext:
    """The TLS set-up of every pool: the certificates httpx trusts, unless no connection can
    use TLS (a plain-HTTP target, on loopback, and no proxy in the environment): then one that
    trusts nothing, which costs no reading of the certificate bundle (30 ms) and could never
    connect to an HTTPS server unverified."""
    proxied = any(k.lower().endswith("_proxy") and k.lower() != "no_proxy" for k in os.environ)
    if httpx.URL(base_url).scheme == "http" and not proxied:
        return ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies, with no certificate to trust
    return httpx.create_ssl_context()


def _merge(base_url: httpx.URL, path: str) -> httpx.URL:
    """``path`` under the base URL, as httpx merges a relative URL with its ``base_url``."""
    return base_url.copy_with(raw_path=base_url.raw_path + path.lstrip("/").encode("ascii"))


def _record_path(object_key: str, record_id: str) -> tuple[str, str]:
    """The look-up endpoint of a record of this kind, and the key its answer is under."""
    quoted = quote(record_id, safe="")
    if object_key == "contact":
        return f"/contacts/{quoted}", "contact"
    if object_key == "opportunity":
        return f"/opportunities/{quoted}", "opportunity"
    if object_key == "business":
        return f"/businesses/{quoted}", "business"
    return f"/objects/{quote(object_key, safe='')}/records/{quoted}", "record"


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


def _network_error(error: httpx.TransportError, base_url: httpx.URL) -> UnreachableError:
    """No answer came. ``maybe_written`` unless the request surely never left. A connection
    refused names the URL tried (no user or query part: never a secret); ``reason`` does
    not (the run's stop message names the URL itself)."""
    name = type(error).__name__
    if isinstance(error, httpx.ConnectTimeout | httpx.PoolTimeout):
        return UnreachableError(f"no connection within the timeout ({name})")
    if isinstance(error, httpx.TimeoutException):
        return UnreachableError(f"no answer within the timeout ({name})", maybe_written=True)
    if isinstance(error, httpx.ConnectError) and "Too many open files" in str(error):
        return UnreachableError(  # not the network: this machine's limit of open files
            f"could not open a connection ({error}): this process may open no more files; "
            "raise the limit (ulimit -n) or split the file by location (relimport split)"
        )
    if isinstance(error, httpx.ConnectError):
        reason = f"could not connect to the API ({error})"
        url = str(base_url.copy_with(userinfo=b"", query=None)).rstrip("/")
        return UnreachableError(
            f"could not connect to the API at {url} ({error}): check the target (--base-url) "
            "and the network",
            reason=reason,
        )
    return UnreachableError(f"the connection dropped before an answer ({name})", maybe_written=True)


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
