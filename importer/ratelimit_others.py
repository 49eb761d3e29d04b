"""What other clients use of a location's window, read from ``X-RateLimit-Remaining``.

``Remaining: r`` on the answer to our request P means the server had counted ``max - r``
requests in its window when it counted P: ours and other clients'. Our own requests are the
slot rule's business (:mod:`importer.ratelimit`); what the limiter needs from ``r`` is the
rest, what *others* use: ``max - r - (our requests the server had counted)``.

We cannot see which of our requests the server had counted, so we count a *lower bound* of
them: P itself, and every request x that surely arrived within the window that ended with P.
x arrived no later than P if its answer came before P left (``release_x <= start_P``); it
arrived within a window of P if it started less than a window before P's answer came
(``start_x > release_P - W``), since P arrived before its answer. Counting the requests that
started in ``(release_P - W, start_P)`` and subtracting those in flight when P started (they
may have arrived after P) gives that bound. A lower bound of ours is an upper bound of
others: the estimate errs towards leaving budget unused, never towards a 429.

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
        # ours the server had counted with P: started within a window before P, P included
        ours = index + 1 - bisect.bisect_right(self._starts, start - window + _EPSILON, 0, index)
        others = max(0, header_max - remaining - ours)
        if seq > self._seq:
            self._seq, self._estimate = seq, (others, now + window)
        elif others > self.now(now):  # an earlier request's answer, late: only tightens
            self._estimate = (others, self._estimate[1])

    def now(self, now: float) -> int:
        """Others' requests in the server's window, as far as we know (0 once it is old)."""
        others, until = self._estimate
        return others if until > now + _EPSILON else 0

    @property
    def until(self) -> float:
        """When the estimate expires."""
        return self._estimate[1]
