"""Per-location rate limiter fed by the API's ``X-RateLimit-*`` headers.

One :class:`LocationLimiter` per location is shared by all the workers sending to it. A worker
calls ``permit = await limiter.location(loc).acquire()`` before a request and
``permit.release(status, headers)`` when the response arrives (``None, None`` if none came).
The headers are parsed in :mod:`importer.api`, whose :func:`retry_after` is
re-exported here.

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
and a different server window never shrinks a configured rate the server allows. Until the
server states its window, its limit is assumed to use the configured one.

**AIMD on the server's max**, for servers stricter than they say. A 429 cuts the max to
``0.8 x`` the slots held over the server window at that moment (or the max itself, within a
window after a long pause or the start of pacing, when few slots can be held), and remembers
that number as the *ceiling*. The max then grows by one per window without a 429, but only up to
``ceiling - 1`` until 10 windows pass without a 429; then the ceiling is forgotten and the max
grows on towards ``X-RateLimit-Max`` (a limit lowered for a while recovers). A location cuts
at most once per window, and never for a request already held at the last cut: those 429s
only extend the pause, and each lowers the ceiling by one (it was one request too many), so a
refused burst brings the ceiling down to what the server accepted at once, not in steps.
If the server has not stated its window, ours is a guess and the server may count over a
shorter one, refusing a burst our window allows: its first 429 then does not cut but makes
starts evenly spaced (one per ``window / max``) from then on; later ones cut as above.

**Remaining** tells what *other* clients use (:mod:`importer.api`):
``X-RateLimit-Max`` minus ``Remaining`` minus our requests the server had counted (an
estimate: ours may arrive out of order, and what is within that blur is read as nobody
else). For a window after the answer, the server's max less that estimate is the cap of the
slot rule above; our own requests are left to the slot rule alone, so the last answer of a
burst saying ``Remaining: 0`` costs no dead time. When other integrations eat the budget,
the estimate grows and we slow down. The proof above holds for any cap at or below the max.

**429** pauses the whole location until ``Retry-After`` (seconds, or an HTTP date measured
against the response's ``Date``) or else one window; once starts are spaced, one spacing
instead, doubled by each 429 in a row to a request sent after the previous one, up to a
window. If the answer says the daily budget is
gone, nothing pauses: the next ``acquire`` raises instead. When every answer has been 429 for
a sustained time (at least 10 in a row, spanning 3 windows or more) the API is refusing this
location outright, headers or not (a spent budget it does not report, other integrations):
``acquire`` raises :class:`BudgetExhaustedError` rather than spin.

**Daily budget**: the last ``X-RateLimit-Daily-Remaining`` (answer to the latest-started
request) minus the requests started since and those in flight then, or ``daily_limit`` minus
our requests before any header. A request in flight then whose own answer shows more left
was counted before: it stops being subtracted, so at ``daily_reserve`` an ``acquire`` waits
for the answers of such requests, and raises :class:`BudgetExhaustedError` only when none can
give budget back.

Waiters are served in order by an :class:`asyncio.Lock` (FIFO); only the head waiter waits,
either with the injected ``sleep`` until the next moment something frees up, or on a
release when every slot is held by a request in flight. Cancelling a waiter takes nothing.
"""

from __future__ import annotations

import asyncio
import bisect
import math
import sys
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from importer.api._ratelimit_headers import RateLimitHeaders, retry_after
from importer.api._ratelimit_others import Others
from importer.config import RateLimitSettings
from importer.errors import BudgetExhaustedError, LocationRefusingError
from importer.timing import Clock, Sleep

__all__ = [
    "LimiterStats",
    "LocationLimiter",
    "Permit",
    "RateLimiter",
    "RateLimits",
    "retry_after",
]


_EPSILON = 1e-6  # clock tolerance: a deadline this close counts as reached (no 1e-15 sleeps)
_DECREASE = 0.8  # multiplicative decrease of the max on a 429
_QUIET_WINDOWS = 10  # windows without a 429 after which the ceiling is forgotten
_REFUSED_COUNT = 10  # 429s in a row, spanning at least
_REFUSED_WINDOWS = 3  # this many windows: the API refuses the location outright


_DEFAULT = RateLimitSettings()  # the defaults live in config.py only


@dataclass(frozen=True)
class RateLimits:
    """The configured limits of every location: caps that the headers can only lower."""

    max_requests: int = _DEFAULT.max_requests
    window_seconds: float = _DEFAULT.window_seconds
    daily_limit: int = _DEFAULT.daily_limit
    daily_reserve: int = _DEFAULT.daily_reserve  # stop at this Daily-Remaining (for others)

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
    daily_limit: int = 0  # the day's budget: the configured one, or the API's when lower


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
        #: What the head waiter waits on for a release (made when one waits: most releases
        #: come with nobody waiting); a release sets it and drops it.
        self._changed: asyncio.Event | None = None
        self._seq = 0
        self._in_flight: set[int] = set()  # seq of requests not released yet
        self._released: deque[float] = deque()  # release times of slots still held, ascending
        self._last_start = -math.inf
        self._header_max = limits.max_requests
        self._window = limits.window_seconds
        self._window_stated = False  # the server has sent its interval
        self._paced = False  # starts one per window / max (after a 429, window not stated)
        self._resumed_at = -math.inf  # end of the last pause, or start of pacing
        self._aimd_base = sys.maxsize  # max just after the last cut (none yet)
        self._aimd_since = 0.0  # time of the last cut
        self._ceiling: int | None = None  # slots held at the last cut, less its later 429s
        self._ceiling_seq = 0  # requests up to this one were held at the last cut
        self._reacted = (-math.inf, 0)  # time and seq of the last cut or switch to pacing
        self._last_429 = -math.inf
        self._refused: tuple[float, int] | None = None  # first 429 of the streak, 429s in it
        self._backoff = (0, 0)  # pause doublings in the streak, seq started at the last one
        self._paused_until = -math.inf
        self._others = Others()  # what other clients use of the server's window
        self._daily_limit = limits.daily_limit
        self._daily: tuple[int, int] | None = None  # Daily-Remaining, requests then
        self._daily_unseen: set[int] = set()  # in flight then, not known to be counted before
        self._daily_seq = 0
        self.stats = LimiterStats()
        self._refresh_stats(clock())

    async def acquire(self) -> Permit:
        """Wait until a request may start; raise BudgetExhaustedError once the API refuses."""
        self._check_budget()
        async with self._lock:
            began = self._clock()
            try:
                while True:
                    self._check_budget()
                    now = self._clock()
                    wait = self._wait_time(now)
                    if wait == 0.0:
                        return self._start(now)
                    if wait is None:
                        if self._changed is None:
                            self._changed = asyncio.Event()
                        await self._changed.wait()
                    else:
                        await self._sleep(wait)
            finally:
                self.stats.paused_seconds += self._clock() - began

    def _start(self, now: float) -> Permit:
        self._seq += 1
        self._others.started(self._seq, now)
        self._in_flight.add(self._seq)
        self._last_start = now
        self.stats.requests += 1
        self._refresh_stats(now)
        return Permit(self, self._seq)

    def _wait_time(self, now: float) -> float | None:
        """0 if a request may start now, else seconds to wait, or None to wait for a release."""
        self._expire(now)
        deadlines = []
        if self._paused_until > now + _EPSILON:
            deadlines.append(self._paused_until)
        if self._paced:
            next_start = self._last_start + self._window / self._server_max(now)
            if next_start > now + _EPSILON:
                deadlines.append(next_start)
        # requests in flight may turn out counted already, giving back budget: wait for them
        wait_release = self._daily_left() <= self._limits.daily_reserve
        for cap, window, growth in self._constraints(now):
            recent = self._recent(now, window)
            to_free = len(self._in_flight) + recent - cap + 1
            if to_free <= 0:
                continue
            frees = []
            if to_free <= recent:  # the to_free-th oldest recent slot frees a window after release
                frees.append(self._released[len(self._released) - recent + to_free - 1] + window)
            if growth is not None:
                frees.append(growth)
            if frees:
                deadlines.append(min(frees))
            else:
                wait_release = True
        if deadlines:
            return max(deadlines) - now
        return None if wait_release else 0.0

    def _constraints(self, now: float) -> list[tuple[int, float, float | None]]:
        """(max, window, when the max next grows) for the configured limit and the server's
        (less what other clients use of it, for as long as that estimate holds)."""
        configured = (self._limits.max_requests, self._limits.window_seconds, None)
        growth = self._next_growth(now)
        if self._others.now(now):
            growth = min(growth or math.inf, self._others.until)
        return [configured, (self._server_cap(now), self._window, growth)]

    def _server_cap(self, now: float) -> int:
        """Our requests per server window now: the server's max less others' use."""
        return max(0, self._server_max(now) - self._others.now(now))

    def _expire(self, now: float) -> None:
        longest = max(self._window, self._limits.window_seconds)
        while self._released and self._released[0] + longest <= now + _EPSILON:
            self._released.popleft()

    def _recent(self, now: float, window: float) -> int:
        """Released slots still held for a limit over ``window``."""
        return len(self._released) - bisect.bisect_right(self._released, now - window)

    def _windows_since(self, now: float, since: float) -> int:
        return max(0, math.floor((now + _EPSILON - since) / self._window))

    def _aimd(self, now: float) -> int:
        """The server's max after the cuts: grown one per window, held below the ceiling."""
        if self._ceiling is None and self._aimd_base >= self._header_max:
            return self._header_max  # no cut holds it below (nearly every call): grown >= base
        grown = self._aimd_base + self._windows_since(now, self._aimd_since)
        if self._ceiling is not None:
            quiet = self._windows_since(now, self._last_429)  # forgotten after 10 quiet ones
            grown = min(grown, self._ceiling - 1 + max(0, quiet - _QUIET_WINDOWS + 1))
        return min(self._header_max, grown)

    def _next_growth(self, now: float) -> float | None:
        """When the server's max next grows, or None if it is at the advertised max."""
        current = self._aimd(now)
        if current >= self._header_max:
            return None
        times = [self._aimd_since + (self._windows_since(now, self._aimd_since) + 1) * self._window]
        if self._ceiling is not None:
            quiet = max(_QUIET_WINDOWS, self._windows_since(now, self._last_429) + 1)
            times.append(self._last_429 + quiet * self._window)
        # each bound grows at its own time; by the later one, both (and so the smaller) have
        return next((t for t in sorted(times) if self._aimd(t) > current), None)

    def _server_max(self, now: float) -> int:
        return max(1, self._aimd(now))

    def _effective_max(self, now: float) -> int:
        """Requests per server window now (the configured limit also holds, per its window)."""
        server = self._server_cap(now)
        if self._window <= self._limits.window_seconds:
            return min(server, self._limits.max_requests)
        return server

    def _daily_left(self) -> int:
        if self._daily is None:
            return self._daily_limit - self.stats.requests
        remaining, then = self._daily
        return remaining - len(self._daily_unseen) - (self.stats.requests - then)

    def _check_budget(self) -> None:
        """Raise BudgetExhaustedError if the day is spent or the API refuses everything."""
        left, reserve = self._daily_left(), self._limits.daily_reserve
        # none can come back (the set is built only near the reserve: most calls are far)
        if left <= reserve and left + len(self._daily_unseen & self._in_flight) <= reserve:
            used = max(0, self._daily_limit - max(0, left))
            raise BudgetExhaustedError(
                self.location_id,
                f"location {self.location_id}: the daily request budget is spent "
                f"({used} of {self._daily_limit} requests used, {self.stats.requests} of them "
                f"by this run; {max(0, left)} left, {reserve} kept in reserve). "
                "The daily budget resets each day: run again later to send the rest.",
            )
        first, count = self._refused or (self._last_429, 0)
        span = self._last_429 - first
        if count >= _REFUSED_COUNT and span >= _REFUSED_WINDOWS * self._window - _EPSILON:
            raise LocationRefusingError(
                self.location_id,
                f"location {self.location_id}: the API has refused every request of this "
                f"location for {_duration(span)} with 429 (too many requests), perhaps "
                "because its daily budget is spent or other integrations use it. "
                "Run the same command again later to resume the run.",
            )

    def _release(self, seq: int, status: int | None, headers: Mapping[str, str] | None) -> None:
        now = self._clock()
        self._in_flight.discard(seq)  # before the headers: this request is no longer unseen
        self._released.append(now)
        parsed = RateLimitHeaders.parse(headers)
        self._apply_headers(seq, now, parsed, counted=status is not None and status != 429)
        if status == 429:
            self._on_429(seq, now, parsed)
        elif status is not None:
            self._refused, self._backoff = None, (0, self._backoff[1])
        self._refresh_stats(now)
        if self._changed is not None:
            self._changed.set()
            self._changed = None

    def _apply_headers(
        self, seq: int, now: float, headers: RateLimitHeaders, *, counted: bool
    ) -> None:
        if headers.max is not None:
            self._header_max = headers.max
        if headers.interval is not None:
            self._window = headers.interval
            self._window_stated = True
        if headers.remaining is not None:
            self.stats.remaining = headers.remaining
        self._others.answered(
            seq, now, self._window, self._header_max, headers.remaining, counted=counted
        )
        if headers.daily_limit is not None:
            self._daily_limit = min(self._limits.daily_limit, headers.daily_limit)
        daily = headers.daily_remaining
        if daily is not None:
            if seq > self._daily_seq or daily == 0:
                self._daily_seq = max(seq, self._daily_seq)
                self._daily = (daily, self.stats.requests)
                self._daily_unseen = set(self._in_flight) if daily else set()  # 0: none left
            elif self._daily is not None and daily > self._daily[0]:
                self._daily_unseen.discard(seq)  # counted before that answer: already in it

    def _on_429(self, seq: int, now: float, headers: RateLimitHeaders) -> None:
        self.stats.rate_limited += 1
        first, in_a_row = self._refused or (now, 0)
        self._refused = (first, in_a_row + 1)
        if self._daily_left() > self._limits.daily_reserve:  # else the next acquire raises
            self._react(seq, now)
            doublings, doubled_seq = self._backoff
            if seq > doubled_seq:  # sent after the last 429 came: a new refusal, back off more
                self._backoff = (doublings + 1, self._seq)
            delay = headers.retry_after
            if delay is None:  # one window; paced, a spacing doubled by each new 429 in a row
                delay = self._window
                if self._paced:
                    spacing = self._window / self._server_max(now)
                    delay = min(delay, spacing * 2 ** min(self._backoff[0] - 1, 30))
            self._paused_until = max(self._paused_until, now + delay)
            if delay >= self._window / 2:  # a long pause: after it, few slots can be held
                self._resumed_at = max(self._resumed_at, self._paused_until)
        self._last_429 = now

    def _react(self, seq: int, now: float) -> None:
        """Cut the server's max (at most once per window) or, the first time, start pacing."""
        reacted_at, reacted_seq = self._reacted
        if seq <= reacted_seq or now < reacted_at + self._window - _EPSILON:
            if self._ceiling is not None and seq <= self._ceiling_seq:
                self._ceiling = max(1, self._ceiling - 1)  # held at the cut: one too many
            return
        if not (self._window_stated or self._paced):
            self._paced, self._resumed_at = True, now  # perhaps only the burst was refused
            self._reacted = (reacted_at, self._seq)  # not a cut: the next window may cut
            return
        self._reacted = (now, self._seq)
        self._expire(now)
        current = self._aimd(now)
        held = len(self._in_flight) + self._recent(now, self._window)
        if now < self._resumed_at + self._window:  # too short a time sending to fill a window:
            held = current  # the max is the rate that was refused
        self._aimd_base = min(current, max(1, int(_DECREASE * held)))
        self._aimd_since = now
        self._ceiling, self._ceiling_seq = held, self._seq

    def _refresh_stats(self, now: float) -> None:
        self.stats.in_flight = len(self._in_flight)
        self.stats.effective_max = self._effective_max(now)
        self.stats.window_seconds = self._window
        self.stats.daily_remaining = self._daily_left()
        self.stats.daily_limit = self._daily_limit


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


def _duration(seconds: float) -> str:
    """A span for a person: seconds under two minutes, else minutes."""
    if seconds < 120:
        return f"{round(seconds)} seconds"
    return f"{round(seconds / 60)} minutes"
