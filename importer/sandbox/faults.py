"""What the sandbox enforces and how it misbehaves: rate limits and a plan of faults.

Both are frozen values. ``Limits`` are the real budget of every location; ``FaultPlan`` makes
the sandbox harsher than the real API in precise, reproducible ways. Every field of
``FaultPlan`` maps 1:1 to an option of ``relimport sandbox serve``.
"""

from __future__ import annotations

import inspect
import random
import re
from dataclasses import dataclass, fields
from enum import Enum


@dataclass(frozen=True, slots=True)
class Limits:
    """The budget of each location: a sliding burst window and a daily allowance."""

    #: Accepted requests allowed in any sliding window of interval seconds.
    burst: int = 100
    #: Length of the burst window, in seconds.
    interval: float = 10.0
    #: Accepted requests allowed per day.
    daily: int = 200_000
    #: Length of a "day" in seconds (counted from the sandbox's creation; shrink it in tests).
    day_length: float = 86_400.0

    def __post_init__(self) -> None:
        if self.burst < 1 or self.daily < 1:
            raise ValueError("burst and daily limits must be at least 1")
        if self.interval <= 0 or self.day_length <= 0:
            raise ValueError("interval and day_length must be positive")


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """Deliberate misbehaviour. The defaults are a well-behaved API."""

    #: Every Nth create (POST /associations/relations) answers 503 without writing (0 = never).
    fail_every: int = 0
    #: Every Nth create is processed (written if valid), then the connection drops unanswered.
    drop_after_write_every: int = 0
    #: Every Nth create is processed (written if valid), then answered only after timeout_delay.
    timeout_every: int = 0
    #: Seconds a timed-out create waits before answering (added to the latency).
    timeout_delay: float = 30.0
    #: Seconds added to every answer.
    latency: float = 0.0
    #: Up to this many seconds more, uniformly random (seeded), added to every answer.
    latency_jitter: float = 0.0
    #: Probability that a create answers 503 without writing.
    fail_rate: float = 0.0
    #: Probability that a create is processed, then its connection drops.
    drop_rate: float = 0.0
    #: Probability that a create is processed, then answered only after timeout_delay.
    timeout_rate: float = 0.0
    #: Seed of the random faults and jitter: the same seed gives the same run.
    seed: int = 0
    #: False sends no X-RateLimit-* headers on any response (a 429 storm with nothing to pace on).
    rate_limit_headers: bool = True
    #: Advertise this X-RateLimit-Max while enforcing the real one (a server stricter than it says).
    advertised_max: int | None = None
    #: After limit_drops_after accepted requests in a location, its enforced burst drops to this.
    limit_drops_to: int | None = None
    #: Accepted requests in a location before limit_drops_to applies.
    limit_drops_after: int = 0
    #: Send Retry-After with this many seconds (rounded up to whole seconds) on every 429.
    retry_after: float | None = None

    def __post_init__(self) -> None:
        counts = (self.fail_every, self.drop_after_write_every, self.timeout_every)
        if min(counts) < 0 or self.limit_drops_after < 0:
            raise ValueError("fault periods and limit_drops_after must be 0 or more")
        rates = (self.fail_rate, self.drop_rate, self.timeout_rate)
        if min(rates) < 0 or sum(rates) > 1:
            raise ValueError("fault rates must be 0 or more and add up to at most 1")
        if min(self.latency, self.latency_jitter, self.timeout_delay) < 0:
            raise ValueError("latency, latency_jitter and timeout_delay must be 0 or more")
        if self.limit_drops_to is not None and self.limit_drops_to < 1:
            raise ValueError("limit_drops_to must be at least 1")
        if self.advertised_max is not None and self.advertised_max < 1:
            raise ValueError("advertised_max must be at least 1")


def field_docs(model: type) -> dict[str, str]:
    """The one-line ``#:`` comment above each field of ``Limits`` or ``FaultPlan`` (for --help)."""
    docs: dict[str, str] = {}
    pending = ""
    for line in inspect.getsource(model).splitlines():
        line = line.strip()
        if line.startswith("#:"):
            pending = line[2:].strip()
        elif found := re.match(r"(\w+)\s*:", line):
            if pending:
                docs[found.group(1)] = pending
            pending = ""
    return {f.name: docs.get(f.name, "") for f in fields(model)}


class Fault(Enum):
    """What happens to one create request."""

    NONE = "none"
    FAIL = "fail"  # 503, nothing written
    DROP = "drop"  # processed, then the connection closes without an answer
    TIMEOUT = "timeout"  # processed, then answered late


class FaultSchedule:
    """Decides the fault of each create in turn. Not thread-safe: the caller holds a lock."""

    def __init__(self, plan: FaultPlan) -> None:
        self._plan = plan
        self._creates = 0
        self._faults = random.Random(plan.seed)
        self._jitter = random.Random(plan.seed + 1)

    def next_create(self) -> Fault:
        """The fault for the next create; periodic rules win over random ones, FAIL first."""
        plan = self._plan
        self._creates += 1
        n = self._creates
        for every, fault in (
            (plan.fail_every, Fault.FAIL),
            (plan.drop_after_write_every, Fault.DROP),
            (plan.timeout_every, Fault.TIMEOUT),
        ):
            if every and n % every == 0:
                return fault
        if plan.fail_rate or plan.drop_rate or plan.timeout_rate:
            draw = self._faults.random()
            for rate, fault in (
                (plan.fail_rate, Fault.FAIL),
                (plan.drop_rate, Fault.DROP),
                (plan.timeout_rate, Fault.TIMEOUT),
            ):
                if draw < rate:
                    return fault
                draw -= rate
        return Fault.NONE

    def delay(self, fault: Fault) -> float:
        """Seconds to wait before answering a request that met ``fault``."""
        plan = self._plan
        seconds = plan.latency
        if plan.latency_jitter:
            seconds += self._jitter.uniform(0.0, plan.latency_jitter)
        if fault is Fault.TIMEOUT:
            seconds += plan.timeout_delay
        return seconds
