"""Per-location rate limiter fed by the API's ``X-RateLimit-*`` headers.

One :class:`LocationLimiter` per location is shared by all the workers sending to it. A worker
calls ``permit = await limiter.location(loc).acquire()`` before a request and
``permit.release(status, headers)`` when the response arrives (``None, None`` if none came).

**Slots held until a window after release.** Every permit holds a slot from ``acquire`` until
``window`` seconds after its ``release``; a request may start only while fewer than the
effective max slots are held. Why this bounds what the server sees, however long requests
take: the server counts a request when it arrives, somewhere in its ``[start, release]``
span. Take any window ``[t, t + W)`` and the requests whose span meets it; let ``s`` be the
latest start among them (``s < t + W``). Every other one started before ``s`` and was
released at or after ``t``, so its slot was held until after ``t + W > s``: all were holding
slots when ``s`` started, so there are at most max of them. Hence no server window, sliding
or fixed, counts more than max of our requests, and up to max may still start at once.

**Two limits at once.** The configured ``max_requests`` per ``window_seconds`` and the
server's ``X-RateLimit-Max`` per ``X-RateLimit-Interval-Milliseconds`` are both enforced, each
with its own window over the same slots: a faster configured rate never raises the server's,
and a different server window never shrinks a configured rate the server allows. The server's
max is also cut by AIMD: a 429 cuts it to ``0.8 x`` the slots held at that moment, and it
then grows by one per window without a 429.

**Remaining.** ``X-RateLimit-Remaining: r`` on the answer to request P means the server had
``r`` left when it counted P. Any request still in flight may not have been counted yet (and
answers come back out of order), so for one window at most ``r`` minus those may start. The
answer to the latest-started request sets this allowance; a late answer to an earlier one
can only lower it. When other integrations eat the budget, ``r`` falls and we slow down.

**429** pauses the whole location until ``Retry-After`` (seconds, or an HTTP date measured
against the response's ``Date``) or else one window, and cuts the AIMD max (so starts also
wait for the oldest fifth of the held slots to free). If the answer says the daily budget is
gone, nothing pauses: the next ``acquire`` raises instead.

**Daily budget**: the last ``X-RateLimit-Daily-Remaining`` (same freshness rule) minus the
requests started since, or ``daily_limit`` minus our requests before any header. At or
below ``daily_reserve``, ``acquire`` raises :class:`BudgetExhaustedError`.

Waiters are served in order by an :class:`asyncio.Lock` (FIFO); only the head waiter waits,
either with the injected ``sleep`` until the next moment something frees up, or on a
release when every slot is held by a request in flight. Cancelling a waiter takes nothing.
"""

from __future__ import annotations

import asyncio
import bisect
import email.utils
import math
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from importer.errors import BudgetExhaustedError

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]

_EPSILON = 1e-6  # clock tolerance: a deadline this close counts as reached (no 1e-15 sleeps)
_DECREASE = 0.8  # multiplicative decrease of the max on a 429
_MAX_INTERVAL = 3600.0  # a header interval longer than an hour is garbage
_MAX_RETRY_AFTER = 86_400.0  # so is a Retry-After longer than a day


@dataclass(frozen=True)
class RateLimits:
    """The configured limits of every location: caps that the headers can only lower."""

    max_requests: int = 100
    window_seconds: float = 10.0
    daily_limit: int = 200_000
    daily_reserve: int = 0  # stop when Daily-Remaining <= this (leave budget for others)

    def __post_init__(self) -> None:
        if self.max_requests < 1 or not 0 < self.window_seconds < math.inf:
            raise ValueError("max_requests must be >= 1 and window_seconds > 0")
        if self.daily_limit < 0 or self.daily_reserve < 0:
            raise ValueError("daily_limit and daily_reserve must be >= 0")


@dataclass
class LimiterStats:
    """What one location's limiter has done, updated on every acquire and release."""

    requests: int = 0  # requests started (permits granted)
    rate_limited: int = 0  # releases with status 429
    paused_seconds: float = 0.0  # time the head waiter spent waiting (pauses and pacing)
    in_flight: int = 0
    effective_max: int = 0  # requests allowed per window now
    window_seconds: float = 0.0
    remaining: int | None = None  # last X-RateLimit-Remaining seen
    daily_remaining: int = 0  # estimate: last Daily-Remaining minus our requests since


class Permit:
    """The right to send one request; release it exactly once."""

    __slots__ = ("_limiter", "_released", "_seq")

    def __init__(self, limiter: LocationLimiter, seq: int) -> None:
        self._limiter = limiter
        self._seq = seq
        self._released = False

    def release(self, status: int | None, headers: Mapping[str, str] | None) -> None:
        """Report the response (status and headers), or ``None, None`` if none came."""
        if self._released:
            raise RuntimeError("a Permit must be released exactly once")
        self._released = True
        self._limiter._release(self._seq, status, headers)

    async def __aenter__(self) -> Permit:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if not self._released:
            self.release(None, None)


class LocationLimiter:
    """The limiter of one location, shared by all the workers sending to it."""

    def __init__(self, location_id: str, limits: RateLimits, clock: Clock, sleep: Sleep) -> None:
        self.location_id = location_id
        self._limits = limits
        self._clock = clock
        self._sleep = sleep
        self._lock = asyncio.Lock()  # FIFO: waiters are served in order
        self._changed = asyncio.Event()  # set (and replaced) on every release
        self._seq = 0
        self._in_flight: set[int] = set()  # seq of requests not released yet
        self._released: deque[float] = deque()  # release times of slots still held, ascending
        self._header_max = limits.max_requests
        self._window = limits.window_seconds
        self._aimd_base = sys.maxsize  # max just after the last 429 (none yet: no cut)
        self._aimd_since = 0.0  # time of the last 429
        self._paused_until = -math.inf
        self._remaining: tuple[int, int, float] | None = None  # allowance, requests then, until
        self._remaining_seq = 0
        self._daily_limit = limits.daily_limit
        self._daily: tuple[int, int] | None = None  # allowance, requests then
        self._daily_seq = 0
        self.stats = LimiterStats()
        self._refresh_stats(clock())

    async def acquire(self) -> Permit:
        """Wait until a request may start; raise BudgetExhaustedError once the day is spent."""
        self._check_daily()
        async with self._lock:
            began = self._clock()
            try:
                while True:
                    self._check_daily()
                    now = self._clock()
                    wait = self._wait_time(now)
                    if wait == 0.0:
                        return self._start(now)
                    if wait is None:
                        await self._changed.wait()
                    else:
                        await self._sleep(wait)
            finally:
                self.stats.paused_seconds += self._clock() - began

    def _start(self, now: float) -> Permit:
        self._seq += 1
        self._in_flight.add(self._seq)
        self.stats.requests += 1
        self._refresh_stats(now)
        return Permit(self, self._seq)

    def _wait_time(self, now: float) -> float | None:
        """0 if a request may start now, else seconds to wait, or None to wait for a release."""
        self._expire(now)
        deadlines = []
        if self._paused_until > now + _EPSILON:
            deadlines.append(self._paused_until)
        if self._remaining is not None:
            if self._remaining[2] <= now + _EPSILON:
                self._remaining = None
            elif self._remaining_left() <= 0:
                deadlines.append(self._remaining[2])
        wait_release = False
        for cap, window, recovery in self._constraints(now):
            recent = len(self._released) - bisect.bisect_right(self._released, now - window)
            to_free = len(self._in_flight) + recent - cap + 1
            if to_free <= 0:
                continue
            frees = []
            if to_free <= recent:  # the to_free-th oldest recent slot frees a window after release
                frees.append(self._released[len(self._released) - recent + to_free - 1] + window)
            if recovery is not None:
                frees.append(recovery)
            if frees:
                deadlines.append(min(frees))
            else:
                wait_release = True
        if deadlines:
            return max(deadlines) - now
        return None if wait_release else 0.0

    def _constraints(self, now: float) -> list[tuple[int, float, float | None]]:
        """(max, window, when the max next grows) for the configured limit and the server's.

        Both hold at once: the configured ``max_requests`` per ``window_seconds``, and the
        server's ``X-RateLimit-Max`` per ``X-RateLimit-Interval-Milliseconds`` (cut by AIMD
        after a 429). Each is enforced with slots freed a window after release.
        """
        configured = (self._limits.max_requests, self._limits.window_seconds, None)
        server_max = self._server_max(now)
        recovery = None
        if self._aimd(now) < self._header_max:
            recovery = self._aimd_since + (self._aimd_steps(now) + 1) * self._window
        return [configured, (server_max, self._window, recovery)]

    def _expire(self, now: float) -> None:
        longest = max(self._window, self._limits.window_seconds)
        while self._released and self._released[0] + longest <= now + _EPSILON:
            self._released.popleft()

    def _remaining_left(self) -> int:
        allowance, then, _ = self._remaining or (0, 0, 0.0)
        return allowance - (self.stats.requests - then)

    def _aimd_steps(self, now: float) -> int:
        return max(0, math.floor((now + _EPSILON - self._aimd_since) / self._window))

    def _aimd(self, now: float) -> int:
        return min(self._header_max, self._aimd_base + self._aimd_steps(now))

    def _server_max(self, now: float) -> int:
        return max(1, min(self._header_max, self._aimd(now)))

    def _effective_max(self, now: float) -> int:
        """Requests per server window now (the configured limit also holds, per its window)."""
        server = self._server_max(now)
        if self._window <= self._limits.window_seconds:
            return min(server, self._limits.max_requests)
        return server

    def _daily_left(self) -> int:
        if self._daily is None:
            return self._daily_limit - self.stats.requests
        allowance, then = self._daily
        return allowance - (self.stats.requests - then)

    def _check_daily(self) -> None:
        left, reserve = self._daily_left(), self._limits.daily_reserve
        if left > reserve:
            return
        used = max(0, self._daily_limit - left)
        raise BudgetExhaustedError(
            self.location_id,
            f"location {self.location_id}: the daily request budget is spent "
            f"({used} of {self._daily_limit} requests used, {self.stats.requests} of them "
            f"by this run; {max(0, left)} left, {reserve} kept in reserve). "
            "The daily budget resets each day: run again later to send the rest.",
        )

    def _release(self, seq: int, status: int | None, headers: Mapping[str, str] | None) -> None:
        now = self._clock()
        self._in_flight.discard(seq)
        self._released.append(now)
        lowered = {key.lower(): value for key, value in (headers or {}).items()}
        self._apply_headers(seq, now, lowered)
        if status == 429:
            self._on_429(now, lowered)
        self._refresh_stats(now)
        self._changed.set()
        self._changed = asyncio.Event()

    def _apply_headers(self, seq: int, now: float, headers: Mapping[str, str]) -> None:
        header_max = _count(headers.get("x-ratelimit-max"))
        if header_max is not None and header_max >= 1:
            self._header_max = header_max
        interval = _count(headers.get("x-ratelimit-interval-milliseconds"))
        if interval is not None and 0 < interval <= _MAX_INTERVAL * 1000:
            self._window = interval / 1000
        unseen = len(self._in_flight)  # in flight: perhaps not counted by the server yet
        remaining = _count(headers.get("x-ratelimit-remaining"))
        if remaining is not None:
            self.stats.remaining = remaining
            allowance = remaining - unseen
            if seq > self._remaining_seq:  # the answer to the latest-started request wins
                self._remaining_seq = seq
                self._remaining = (allowance, self.stats.requests, now + self._window)
            elif self._remaining is not None and allowance < self._remaining_left():
                self._remaining = (allowance, self.stats.requests, self._remaining[2])
        daily_limit = _count(headers.get("x-ratelimit-limit-daily"))
        if daily_limit is not None:
            self._daily_limit = min(self._limits.daily_limit, daily_limit)
        daily = _count(headers.get("x-ratelimit-daily-remaining"))
        if daily is not None and (seq > self._daily_seq or daily == 0):
            self._daily_seq = max(seq, self._daily_seq)
            self._daily = (daily - unseen, self.stats.requests)

    def _on_429(self, now: float, headers: Mapping[str, str]) -> None:
        self.stats.rate_limited += 1
        if self._daily_left() <= self._limits.daily_reserve:
            return  # the day is spent: the next acquire raises, pausing would only delay that
        self._expire(now)
        held = len(self._in_flight) + len(self._released)
        self._aimd_base = min(self._aimd(now), max(1, int(_DECREASE * held)))
        self._aimd_since = now
        delay = _retry_after(headers.get("retry-after"), headers.get("date"))
        self._paused_until = max(
            self._paused_until, now + (self._window if delay is None else delay)
        )

    def _refresh_stats(self, now: float) -> None:
        self.stats.in_flight = len(self._in_flight)
        self.stats.effective_max = self._effective_max(now)
        self.stats.window_seconds = self._window
        self.stats.daily_remaining = self._daily_left()


class RateLimiter:
    """One :class:`LocationLimiter` per location, created on first use."""

    def __init__(
        self, limits: RateLimits, *, clock: Clock = time.monotonic, sleep: Sleep = asyncio.sleep
    ) -> None:
        self._limits = limits
        self._clock = clock
        self._sleep = sleep
        self._locations: dict[str, LocationLimiter] = {}

    def location(self, location_id: str) -> LocationLimiter:
        if location_id not in self._locations:
            self._locations[location_id] = LocationLimiter(
                location_id, self._limits, self._clock, self._sleep
            )
        return self._locations[location_id]

    @property
    def stats(self) -> Mapping[str, LimiterStats]:
        return MappingProxyType({key: loc.stats for key, loc in self._locations.items()})


def _count(value: str | None) -> int | None:
    """A header's non-negative integer, or None if it is missing or garbage."""
    text = (value or "").strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 18:
        return None
    return int(text)


def _retry_after(value: str | None, date: str | None) -> float | None:
    """Seconds to wait from a Retry-After (seconds or HTTP date), or None if it is not sane."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        try:  # an HTTP date: measured against the response's Date, never our own wall clock
            when = email.utils.parsedate_to_datetime(value)
            seconds = (when - email.utils.parsedate_to_datetime(date or "")).total_seconds()
        except (TypeError, ValueError):
            return None
    return seconds if 0 <= seconds <= _MAX_RETRY_AFTER else None  # also rejects nan
