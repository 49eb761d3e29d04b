"""What other clients use of a location's window, read from ``X-RateLimit-Remaining``.

``Remaining: r`` on the answer to our request P means the server had counted ``max - r``
requests in its window when it counted P: ours and other clients'. Our own requests are the
slot rule's business (:mod:`importer.api`); what the limiter needs from ``r`` is the
rest, what *others* use: ``max - r - (our requests the server had counted)``.

We cannot see which of our requests the server had counted. We count those that started
within a window before P, P included: the server counts by arrival, and requests that
started in that order arrive in that order give exactly that number. They may not: a request
can overtake another on the way. So the estimate is blurred by up to the number of ours that
may have arrived out of order (those that started after P while it was on its way, and those
that started within our longest recent time on the way before the window's edge), and an
estimate no larger than that blur is read as noise: nobody else. A larger one is taken whole:
real other clients are not missed, at the price of a few requests of ours lost to the blur.

The estimate holds for one window after the answer (others' requests leave the server's
window by then); the answer to the latest-started request sets it, a late answer to an
earlier one can only raise it. A 429 says nothing of it (P was not counted).
"""

from __future__ import annotations

import bisect
import math
from collections import deque

_EPSILON = 1e-6


class Others:
    """Our request starts over the last windows, and the latest estimate of others' use."""

    def __init__(self) -> None:
        self._starts: deque[float] = deque()  # start times of our requests, by seq
        self._first = 1  # seq of self._starts[0]
        self._flights: deque[tuple[float, float]] = deque()  # (answered, time on the way):
        # the longest of the last two windows first (each later one shorter than the one before)
        self._estimate = (0, -math.inf)  # others' requests, valid until
        self._seq = 0  # the request whose answer set the estimate

    def started(self, seq: int, now: float) -> None:
        """Request ``seq`` starts now."""
        if not self._starts:
            self._first = seq
        self._starts.append(now)

    def answered(
        self,
        seq: int,
        now: float,
        window: float,
        header_max: int,
        remaining: int | None,
        counted: bool,
    ) -> None:
        """The answer to ``seq`` came now. ``counted``: the server counted it (not a 429)."""
        while self._starts and self._starts[0] <= now - 2 * window:  # never needed again
            self._starts.popleft()
            self._first += 1
        index = seq - self._first  # P's place among the starts kept
        if remaining is None or not counted or not 0 <= index < len(self._starts):
            return
        start = self._starts[index]
        flight = self._longest_flight(now, now - start, window)
        edge = bisect.bisect_right(self._starts, start - window + _EPSILON, 0, index)
        ours = index + 1 - edge  # ours the server had counted with P: started a window before
        others = max(0, header_max - remaining - ours)
        # Ours may reach the server out of the order they started in, by up to the longest
        # time a request of ours was on its way lately: those that started after P, and those
        # that started up to that long before a window before it, may have been counted too.
        # An estimate no larger than their number may be only them: not taken for others'.
        blur = len(self._starts) - 1 - index
        blur += edge - bisect.bisect_right(self._starts, start - window - flight, 0, edge)
        if others <= blur:
            others = 0
        if seq > self._seq:
            self._seq, self._estimate = seq, (others, now + window)
        elif others > self.now(now):  # an earlier request's answer, late: only tightens
            self._estimate = (others, self._estimate[1])

    def _longest_flight(self, now: float, flight: float, window: float) -> float:
        """The longest time on the way of our requests answered in the last two windows."""
        flights = self._flights
        while flights and flights[-1][1] <= flight:
            flights.pop()
        flights.append((now, flight))
        while flights[0][0] <= now - 2 * window:
            flights.popleft()
        return flights[0][1]

    def now(self, now: float) -> int:
        """Others' requests in the server's window, as far as we know (0 once it is old)."""
        others, until = self._estimate
        return others if until > now + _EPSILON else 0

    @property
    def until(self) -> float:
        """When the estimate expires."""
        return self._estimate[1]
