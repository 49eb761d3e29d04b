"""``diagnose()``: would a run start? A few read-only requests, one finding per check.

Before a nightly run, :func:`diagnose` checks what would stop it before or at its first
request: the token (set, accepted), the location (the token may act for it), the scopes a run
needs (read associations, read relations, create relations), the association, and the
location's rate limit and daily budget. The requests go through the client and its rate
limiter like those of a run, and none writes anything:

* reading is checked by reading (the association, then the relations of a record that does
  not exist);
* creating is checked with a create whose body lacks every field but ``locationId``: the API
  checks the token's scopes before it validates a body, so it answers 422 when the token may
  create relations and 401 "not authorized for this scope" when it may not. A body with no
  record ids cannot create anything, whatever the API does with it.

A problem in the settings or an answer of the API is a :class:`Finding`, never an exception.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import httpx

from importer.api import (
    Client,
    LimiterStats,
    Retries,
    RetryPolicy,
    connect,
    fetch_association,
    limiter_for,
)
from importer.config import Settings
from importer.errors import (
    AuthError,
    BudgetExhaustedError,
    ConfigError,
    RejectedError,
    RetryableError,
)
from importer.models import Association, Pair
from importer.timing import Sleep
from importer.validate import Checks, examine_properties

__all__ = ["Finding", "diagnose", "session"]

#: A record id no location has: reading its relations reads nothing.
PROBE_RECORD = "0" * 24


@dataclass(frozen=True, slots=True)
class Finding:
    """The result of one check: ``ok``, or a problem whose message says what to do."""

    check: str
    ok: bool
    message: str


@dataclass(frozen=True, slots=True)
class Session:
    """A client of the configured target, its retries, and its limiter's statistics."""

    client: Client
    retries: Retries
    stats: Callable[[], LimiterStats | None]

    async def associations(self, location_id: str) -> list[Association]:
        """The location's associations, retried as in a run."""

        async def listing() -> list[Association]:
            return await self.client.list_associations(location_id)

        return await self.retries(listing)


@asynccontextmanager
async def session(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    sleep: Sleep = asyncio.sleep,
) -> AsyncIterator[Session]:
    """A client paced and retried as in a run. Raises ConfigError when no token is set."""
    limiter = limiter_for(settings, sleep=sleep)
    client = connect(settings, limiter, transport=transport)
    retries = Retries(RetryPolicy.of(settings), sleep)
    try:
        yield Session(client, retries, lambda: limiter.stats.get(settings.location_id or ""))
    finally:
        await client.aclose()


async def diagnose(
    settings: Settings,
    transport: httpx.AsyncBaseTransport | None = None,
    *,
    sleep: Sleep = asyncio.sleep,
) -> list[Finding]:
    """Check that a run with these settings would start; every finding ``ok`` means it would.

    No request is made when the token or the location is missing.
    """
    findings = []
    if not settings.location_id:
        findings.append(
            Finding(
                "location",
                False,
                "no location id is set. Set location_id in config.yaml or pass --location-id "
                "(the id of the sub-account, in the CRM's URL after /location/).",
            )
        )
    try:
        async with session(settings, transport=transport, sleep=sleep) as open_session:
            if findings:
                return findings
            reached, checked = await _examine(open_session, settings)
            findings += checked
            stats = open_session.stats()
    except ConfigError as error:  # no token: nothing was sent
        return [Finding("token", False, str(error)), *findings]
    if reached and stats is not None:
        findings += _budget(stats, settings)
    return findings


async def _examine(open_session: Session, settings: Settings) -> tuple[bool, list[Finding]]:
    """The checks that need requests; True when the location answered (its budget is known)."""
    client, retries = open_session.client, open_session.retries
    location = settings.location_id or ""
    try:
        association, found = await _check_association(open_session, settings)
    except AuthError as error:
        return False, _refused(error, settings, "read associations", "associations.readonly")
    except RetryableError as error:
        return False, [Finding("connection", False, f"{error.message}.")]
    except RejectedError as error:
        return False, [Finding("connection", False, f"the API refused to answer: {error.message}.")]
    except BudgetExhaustedError as error:
        return False, [Finding("daily budget", False, str(error))]
    where = "the built-in sandbox" if settings.is_sandbox else f"the API at {settings.target}"
    variable = _token_variable(settings)
    given = settings.token is not None or location in settings.location_tokens
    whose = f"the token in ${variable}" if given else f"its demo token (${variable} is not set)"
    findings = [
        Finding("token", True, f"{where} accepts {whose}."),
        Finding("location", True, f"the token may act for location {location}."),
        Finding("read associations", True, "the token may read the location's associations."),
        association,
    ]
    # any id does for the relations probe (only the scope matters): the real one when known
    association_id = found.id if found else settings.association or PROBE_RECORD

    async def read_relations() -> object:
        pair = Pair(PROBE_RECORD, PROBE_RECORD)
        return await client.find_relation(location, association_id, pair)

    async def create_nothing() -> None:
        await client.probe_create(location)

    probes: tuple[tuple[str, str, str, Callable[[], Awaitable[object]]], ...] = (
        (
            "read relations",
            "associations/relation.readonly",
            "the token may read relations (a run needs it to check creates whose answer was "
            "lost; undo needs it too).",
            read_relations,
        ),
        (
            "create relations",
            "associations/relation.write",
            "the token may create relations (checked with an empty create the API refuses: "
            "nothing was written).",
            create_nothing,
        ),
    )
    if found is not None and (lookups := _check_lookups(settings, found)) is not None:
        findings.append(lookups)  # a lookup the side's kind refuses, or that it fits
    try:  # a property lookup the object lacks: a run would stop
        findings += await _check_properties(open_session, settings, found) if found else []
    except RetryableError as error:  # no answer at all
        findings.append(Finding("connection", False, f"{error.message}."))
    except BudgetExhaustedError as error:
        return False, [*findings, Finding("daily budget", False, str(error))]
    for check, scope, ok, call in probes:
        try:
            await retries(call)
        except RejectedError:
            pass  # refused after the scope check, as intended for the create
        except AuthError as error:
            findings += _refused(error, settings, check, scope)[-1:]
            continue
        except RetryableError as error:
            findings.append(Finding(check, False, f"could not be checked: {error.message}."))
            continue
        except BudgetExhaustedError as error:
            return False, [*findings, Finding("daily budget", False, str(error))]
        findings.append(Finding(check, True, ok))
    return True, findings


async def _check_association(
    open_session: Session, settings: Settings
) -> tuple[Finding, Association | None]:
    """The configured association, found as a run finds it, or the list of those there."""
    client, retries = open_session.client, open_session.retries
    location = settings.location_id or ""
    if not settings.association:
        known = await open_session.associations(location)
        listed = ", ".join(f"{a.key} ({a.id})" for a in known) or "none"
        return Finding(
            "association",
            False,
            f"no association is set. Associations in location {location}: {listed}. "
            "Set association in config.yaml, or pass --association, to one of these keys or ids.",
        ), None
    try:
        found = await fetch_association(client, location, settings.association, retries)
    except ConfigError as error:
        return Finding("association", False, str(error)), None
    return Finding("association", True, describe(found)), found


def _check_lookups(settings: Settings, association: Association) -> Finding | None:
    """first_lookup / second_lookup against the kinds of records on the association's sides,
    as a run checks them before its first look-up (None: both sides are ids)."""
    checks = Checks(settings, "config")
    if checks.plain_ids:
        return None
    checks.associations[(settings.location_id or "", settings.association or "")] = association
    try:
        checks.check_lookups()
    except ConfigError as error:
        return Finding("lookups", False, str(error))
    (_, first), (_, second) = settings.sides()
    return Finding(
        "lookups",
        True,
        f"first_lookup '{first}' fits {association.first_object_key} records and second_lookup "
        f"'{second}' fits {association.second_object_key} records.",
    )


async def _check_properties(
    open_session: Session, settings: Settings, association: Association
) -> list[Finding]:
    """A finding per custom object's property named in first_lookup / second_lookup."""
    location = settings.location_id or ""
    verdicts = await examine_properties(
        open_session.client,
        open_session.retries,
        settings,
        {(location, settings.association or ""): association},
    )
    findings = []
    for verdict in verdicts:
        where = verdict.object_key
        if verdict.ok is None:
            message = (
                f"the property '{verdict.prop}' of {where} could not be checked: "
                f"{verdict.message}; a run goes on without the check."
            )
        else:
            message = verdict.message or f"{where} has the property '{verdict.prop}'."
        findings.append(Finding(verdict.setting, verdict.ok is not False, message))
    return findings


def describe(association: Association) -> str:
    """``key (id id): First (first_key) -> Second (second_key)``, for a person."""
    return (
        f"{association.key} (id {association.id}): {association.first_object_label} "
        f"({association.first_object_key}) -> {association.second_object_label} "
        f"({association.second_object_key})."
    )


def _token_variable(settings: Settings) -> str:
    """The environment variable the location's token comes from."""
    location = settings.location_id or ""
    if location in settings.location_tokens:
        return settings.token_env_by_location[location]
    return settings.token_env


def _refused(error: AuthError, settings: Settings, check: str, scope: str) -> list[Finding]:
    """What a 401 or 403 says, as findings: the token, the scope or the location."""
    variable = f"${_token_variable(settings)}"
    if error.status == 403:
        return [
            Finding("token", True, "the API accepts the token."),
            Finding(
                "location",
                False,
                f"the token in {variable} may not act for location {settings.location_id}. "
                f"Check location_id (--location-id), or put a token of that location in "
                f"{variable}.",
            ),
        ]
    if "scope" in error.message.lower():
        return [
            Finding("token", True, "the API accepts the token."),
            Finding(
                check,
                False,
                f"the token lacks the scope {scope}. In the CRM, give the Private Integration "
                f"(or the app) this scope, then put the new token in {variable}.",
            ),
        ]
    return [
        Finding(
            "token",
            False,
            f"the API refused the token in {variable} ({error.status}): it is wrong, revoked "
            f"or expired. Put a valid token of the location in {variable}.",
        )
    ]


def _budget(stats: LimiterStats, settings: Settings) -> list[Finding]:
    """The rate limit and the daily budget, as the API's last X-RateLimit-* headers say."""
    limits = settings.rate_limit
    if stats.remaining is None:
        return [
            Finding(
                "rate limit",
                True,
                f"the API sent no X-RateLimit-* headers; relimport keeps to the configured "
                f"{limits.max_requests} requests per {limits.window_seconds:g} seconds.",
            ),
            Finding(
                "daily budget",
                True,
                f"the API did not report it; relimport assumes {limits.daily_limit:,} requests "
                "per day for this location.",
            ),
        ]
    window = f"{stats.window_seconds:g}"
    rate = Finding(
        "rate limit",
        True,
        f"{stats.remaining} requests left in the API's current {window}-second window; "
        f"relimport sends at most {stats.effective_max} per {window} seconds.",
    )
    left, reserve = stats.daily_remaining, limits.daily_reserve
    if left <= reserve:
        return [
            rate,
            Finding(
                "daily budget",
                False,
                f"{left:,} requests left today for location {settings.location_id}, at or "
                f"below rate_limit.daily_reserve ({reserve:,}): a run would stop before "
                "sending. Run it after the location's daily budget resets.",
            ),
        ]
    return [
        rate,
        Finding(
            "daily budget",
            True,
            f"{left:,} requests left today for location {settings.location_id} (all its "
            f"integrations share them): room for about {left - reserve:,} new relations.",
        ),
    ]
