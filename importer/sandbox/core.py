"""The sandbox's one core: state, checks and answers, synchronous, pure and thread-safe.

:meth:`Sandbox.handle` takes one HTTP request as plain values and returns an :class:`Answer`
(status, headers, body, plus how long to wait and whether to drop the connection instead).
The in-process transport and the loopback server only carry bytes to and from it, and do the
waiting. The checks run in this order, each refusal ending the request:

    unknown route 404 -> Version 400 -> token 401 -> scope 401 -> location 403
    -> rate limit 429 -> (creates: planned fault 503) -> body/query 422 -> the endpoint

Requests refused before the location check use no budget; from the rate limit on, every
answer is counted in the location's budget (except the 429 itself).
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from importer.sandbox.answer import Action, Answer
from importer.sandbox.budget import Budget
from importer.sandbox.endpoints import Call, HttpError, LocationState
from importer.sandbox.faults import Fault, FaultPlan, FaultSchedule, Limits
from importer.sandbox.routes import Route, match, validate
from importer.sandbox.seed import Seed, Token, demo_seed, system_associations
from importer.timing import Sleep

if TYPE_CHECKING:
    from importer.sandbox.transport import SandboxTransport

VERSIONS = frozenset({"2021-07-28", "v3", "2023-02-21", "2021-04-15"})


@dataclass(frozen=True, slots=True)
class LocationStats:
    """What one location has seen. ``max_in_window`` counts accepted requests only."""

    requests: int = 0
    by_route: Mapping[str, int] = field(default_factory=dict)
    accepted: int = 0
    created: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    dropped: int = 0
    timed_out: int = 0
    max_in_window: int = 0


@dataclass
class _Counters:
    by_route: Counter[str] = field(default_factory=Counter)
    created: int = 0
    rate_limited: int = 0
    server_errors: int = 0
    dropped: int = 0
    timed_out: int = 0


class Sandbox:
    """A local HighLevel associations API. ``seed``: True = demo data, False = demo data without
    its two pre-existing relations, or a :class:`Seed` (``Seed()`` is empty)."""

    def __init__(
        self,
        seed: Seed | bool = True,
        *,
        limits: Limits | None = None,
        faults: FaultPlan | None = None,
        clock: Callable[[], float] = time.monotonic,
        tokens: tuple[Token, ...] = (),
        id_seed: int = 0,
    ) -> None:
        if isinstance(seed, bool):
            seed = demo_seed(relations=seed)
        self.limits = limits or Limits()
        self.faults = faults or FaultPlan()
        self._clock = clock
        self._epoch = clock()
        self._lock = threading.Lock()
        self._schedule = FaultSchedule(self.faults)
        self._ids = random.Random(id_seed)
        self._traces = random.Random(id_seed + 1)
        self._used_ids: set[str] = set()
        self._locations: dict[str, LocationState] = {}
        self._budgets: dict[str, Budget] = {}
        self._counters: dict[str, _Counters] = {"": _Counters()}
        self._pristine = Budget(self.limits, self.faults, self._epoch)
        self._tokens: dict[str, Token] = {}
        for loc in seed.locations:
            state = self._add_location(loc.id, associations=False)
            state.associations.update({a.id: a for a in loc.associations})
            state.objects.update({o.key: o for o in loc.objects})
            for record in loc.records:
                state.records.setdefault(record.object_key, {})[record.id] = record
            for r in loc.relations:
                a = state.associations[r.association_id]
                state.add_relation(
                    {
                        "id": r.id,
                        "associationId": a.id,
                        "firstRecordId": r.first_record_id,
                        "secondRecordId": r.second_record_id,
                        "firstObjectKey": a.first_object_key,
                        "secondObjectKey": a.second_object_key,
                        "locationId": loc.id,
                    }
                )
                self._used_ids.add(r.id)
        for token in (*seed.tokens, *tokens):
            self.add_token(token)

    def add_token(self, token: Token) -> None:
        """Accept one more token; its unknown locations start with the system associations."""
        if not token.locations:
            raise ValueError("a token needs at least one location")
        with self._lock:
            for location_id in token.locations:
                if location_id not in self._locations:
                    self._add_location(location_id, associations=True)
            self._tokens[token.value] = token

    def set_faults(self, faults: FaultPlan) -> None:
        """Change the fault plan from now on (a server that recovers, or starts failing);
        the relations, counters and budgets so far are kept."""
        with self._lock:
            self.faults = faults
            self._schedule = FaultSchedule(faults)
            self._pristine.follow(faults)
            for budget in self._budgets.values():
                budget.follow(faults)

    def transport(self, *, sleep: Sleep | None = None) -> SandboxTransport:
        """An in-process ``httpx.AsyncBaseTransport`` over this sandbox (no socket)."""
        from importer.sandbox.transport import SandboxTransport

        return SandboxTransport(self) if sleep is None else SandboxTransport(self, sleep=sleep)

    def stats(self, location_id: str) -> LocationStats:
        """A snapshot of one location's statistics ("" = requests with no known token)."""
        with self._lock:
            c = self._counters.get(location_id, _Counters())
            budget = self._budgets.get(location_id)
            return LocationStats(
                requests=sum(c.by_route.values()),
                by_route=dict(c.by_route),
                accepted=budget.accepted if budget else 0,
                created=c.created,
                rate_limited=c.rate_limited,
                server_errors=c.server_errors,
                dropped=c.dropped,
                timed_out=c.timed_out,
                max_in_window=budget.max_in_window if budget else 0,
            )

    def relations(self, location_id: str) -> list[dict[str, str]]:
        """The relations of a location now, oldest first (copies)."""
        with self._lock:
            return [dict(r) for r in self._locations[location_id].relations.values()]

    def has_relation(self, location_id: str, association_id: str, first: str, second: str) -> bool:
        with self._lock:
            return (association_id, first, second) in self._locations[location_id].pairs

    def handle(
        self, method: str, target: str, headers: Mapping[str, str], body: bytes = b""
    ) -> Answer:
        """Answer one request. ``target`` is the raw path and query, e.g. ``/contacts/x?a=b``."""
        lowered = {k.lower(): v for k, v in headers.items()}
        with self._lock:
            return self._handle(method.upper(), target, lowered, body)

    def _handle(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> Answer:
        now = self._clock()
        url = urlsplit(target)
        query = parse_qs(url.query, keep_blank_values=True)
        token = self._token(headers.get("authorization", ""))
        home = token.locations[0] if token else ""
        found = match(method, url.path)
        if found is None:
            return self._refuse(404, f"Cannot {method} {url.path}", home, "", now)
        route, params = found[0], {k: unquote(v) for k, v in found[1].items()}
        version = headers.get("version", "")
        if version not in VERSIONS:
            message = (
                f"Unsupported Version header: {version}" if version else "Version header is missing"
            )
            return self._refuse(400, message, home, route.template, now)
        if token is None:
            return self._refuse(401, "Invalid JWT", "", route.template, now)
        if route.scope not in token.scopes:
            message = "The token is not authorized for this scope."
            return self._refuse(401, message, home, route.template, now)
        body: Any = {}
        if raw.strip():
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
        location_id = self._locate(route, params, query, body, token)
        if location_id not in token.locations:
            message = "The token does not have access to this location."
            return self._refuse(403, message, home, route.template, now)
        budget, counters = self._budgets[location_id], self._counters[location_id]
        counters.by_route[route.template] += 1
        if not budget.try_accept(now):
            counters.rate_limited += 1
            return self._answer(429, _error(429, "Too many requests"), budget, now, limited=True)
        fault = self._schedule.next_create() if route.is_create else Fault.NONE
        if fault is Fault.FAIL:
            counters.server_errors += 1
            return self._answer(503, _error(503, "Service Unavailable"), budget, now)
        try:
            if not isinstance(body, dict):
                raise HttpError(400, "Request body must be a JSON object")
            validate(route, query, body)
            state = self._locations[location_id]
            status, payload = route.handler(Call(state, params, query, body, self._new_id))
        except HttpError as error:
            status, payload = error.status, _error(error.status, error.message)
        if route.is_create and status == 201:
            counters.created += 1
        if fault is Fault.DROP:
            counters.dropped += 1
        elif fault is Fault.TIMEOUT:
            counters.timed_out += 1
        action = {Fault.DROP: Action.DROP, Fault.TIMEOUT: Action.TIMEOUT}.get(fault, Action.RESPOND)
        return self._answer(status, payload, budget, now, fault=fault, action=action)

    def _refuse(self, status: int, message: str, home: str, template: str, now: float) -> Answer:
        """An answer before the location is known: no budget is used; its headers show the
        token's home location (or a fresh budget when the token is unknown)."""
        self._counters[home].by_route[template or "(no route)"] += 1
        budget = self._budgets.get(home, self._pristine)
        return self._answer(status, _error(status, message), budget, now)

    def _answer(
        self,
        status: int,
        payload: Any,
        budget: Budget,
        now: float,
        *,
        limited: bool = False,
        fault: Fault = Fault.NONE,
        action: Action = Action.RESPOND,
    ) -> Answer:
        if isinstance(payload, dict) and "traceId" in payload:
            payload["traceId"] = str(uuid.UUID(int=self._traces.getrandbits(128), version=4))
        headers = [("Content-Type", "application/json; charset=utf-8")]
        headers += budget.headers(now, limited=limited)
        body = json.dumps(payload, separators=(",", ":")).encode()
        return Answer(status, tuple(headers), body, self._schedule.delay(fault), action)

    def _token(self, authorization: str) -> Token | None:
        scheme, _, value = authorization.strip().partition(" ")
        return self._tokens.get(value.strip()) if scheme.lower() == "bearer" else None

    def _locate(
        self,
        route: Route,
        params: Mapping[str, str],
        query: Mapping[str, list[str]],
        body: Any,
        token: Token,
    ) -> str:
        """The location a request is for: its ``locationId`` (query, then body), else the
        location holding the addressed entity (the token's first), else the token's home."""
        given = query.get("locationId", [""])[0]
        if not given and isinstance(body, dict) and isinstance(body.get("locationId"), str):
            given = body["locationId"]
        if given:
            return given
        if route.owner is not None:
            others = [loc for loc in self._locations if loc not in token.locations]
            for location_id in (*token.locations, *others):
                if route.owner(self._locations[location_id], params):
                    return location_id
        return token.locations[0]

    def _add_location(self, location_id: str, *, associations: bool) -> LocationState:
        state = LocationState(location_id)
        if associations:
            state.associations.update({a.id: a for a in system_associations()})
        self._locations[location_id] = state
        self._budgets[location_id] = Budget(self.limits, self.faults, self._epoch)
        self._counters[location_id] = _Counters()
        return state

    def _new_id(self) -> str:
        """An ObjectId-shaped id, as the real API's: 4 bytes of creation time, 8 random."""
        while True:
            new = f"{int(time.time()) & 0xFFFFFFFF:08x}{self._ids.getrandbits(64):016x}"
            if new not in self._used_ids:
                self._used_ids.add(new)
                return new


def _error(status: int, message: str | list[str]) -> dict[str, Any]:
    return {
        "statusCode": status,
        "message": message,
        "error": HTTPStatus(status).phrase,
        "traceId": "",
    }
