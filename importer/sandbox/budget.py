"""The request budget of one location: a sliding burst window, a daily allowance, the headers.

Only *accepted* requests use the budget: a request answered 429 is not counted, neither in the
window nor in the day. The window is half-open, ``(now - interval, now]``: no such window ever
holds more than the enforced maximum of accepted requests.
"""

from __future__ import annotations

import math
from collections import deque

from importer.sandbox.faults import FaultPlan, Limits

Headers = list[tuple[str, str]]


class Budget:
    """Rate-limit state of one location. Not thread-safe: the caller holds a lock."""

    def __init__(self, limits: Limits, plan: FaultPlan, epoch: float) -> None:
        self._limits = limits
        self._plan = plan
        self._epoch = epoch
        self._window: deque[float] = deque()
        self._day = 0
        self._used_today = 0
        self.accepted = 0
        self.max_in_window = 0

    def follow(self, plan: FaultPlan) -> None:
        """From now on, misbehave as ``plan`` says (its limit drops and header lies)."""
        self._plan = plan

    def enforced_max(self) -> int:
        """The burst limit enforced now (it may drop mid-run under the fault plan)."""
        drop_to = self._plan.limit_drops_to
        if drop_to is not None and self.accepted >= self._plan.limit_drops_after:
            return drop_to
        return self._limits.burst

    def try_accept(self, now: float) -> bool:
        """Count one request at ``now`` if the budget allows it; False means answer 429."""
        self._advance(now)
        if self._used_today >= self._limits.daily or len(self._window) >= self.enforced_max():
            return False
        self._window.append(now)
        self._used_today += 1
        self.accepted += 1
        self.max_in_window = max(self.max_in_window, len(self._window))
        return True

    def headers(self, now: float, *, limited: bool = False) -> Headers:
        """The X-RateLimit-* headers (and Retry-After on a 429) describing the budget at ``now``."""
        self._advance(now)
        plan = self._plan
        out: Headers = []
        if plan.rate_limit_headers:
            shown_max = plan.advertised_max or self.enforced_max()
            daily = self._limits.daily
            out += [
                ("X-RateLimit-Max", str(shown_max)),
                ("X-RateLimit-Remaining", str(max(0, shown_max - len(self._window)))),
                ("X-RateLimit-Interval-Milliseconds", str(round(self._limits.interval * 1000))),
                ("X-RateLimit-Limit-Daily", str(daily)),
                ("X-RateLimit-Daily-Remaining", str(max(0, daily - self._used_today))),
            ]
        if limited and plan.retry_after is not None:
            out.append(("Retry-After", str(math.ceil(plan.retry_after))))
        return out

    def _advance(self, now: float) -> None:
        day = math.floor((now - self._epoch) / self._limits.day_length)
        if day != self._day:
            self._day = day
            self._used_today = 0
        horizon = now - self._limits.interval
        window = self._window
        while window and window[0] <= horizon:
            window.popleft()
