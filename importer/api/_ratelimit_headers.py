"""The API's rate-limit headers and ``Retry-After``, parsed: pure functions, no state.

Header names are matched case-insensitively. A value that is missing or garbage (not a plain
non-negative integer, an interval longer than an hour, a ``Retry-After`` that is negative or
longer than a day) reads as ``None``: the limiter then keeps what it knew.
"""

from __future__ import annotations

import email.utils
from collections.abc import Mapping
from dataclasses import dataclass

_MAX_INTERVAL = 3600.0  # a header interval longer than an hour is garbage
_MAX_RETRY_AFTER = 86_400.0  # so is a Retry-After longer than a day


@dataclass(frozen=True)
class RateLimitHeaders:
    """What one response says about the location's budget; None where it says nothing."""

    max: int | None = None  # X-RateLimit-Max (at least 1)
    interval: float | None = None  # X-RateLimit-Interval-Milliseconds, in seconds
    remaining: int | None = None  # X-RateLimit-Remaining
    daily_limit: int | None = None  # X-RateLimit-Limit-Daily
    daily_remaining: int | None = None  # X-RateLimit-Daily-Remaining
    retry_after: float | None = None  # Retry-After, in seconds

    @classmethod
    def parse(cls, headers: Mapping[str, str] | None) -> RateLimitHeaders:
        lowered = _lowered(headers)
        header_max = _count(lowered.get("x-ratelimit-max"))
        interval = _count(lowered.get("x-ratelimit-interval-milliseconds"))
        return cls(
            max=header_max if header_max is not None and header_max >= 1 else None,
            interval=(
                interval / 1000
                if interval is not None and 0 < interval <= _MAX_INTERVAL * 1000
                else None
            ),
            remaining=_count(lowered.get("x-ratelimit-remaining")),
            daily_limit=_count(lowered.get("x-ratelimit-limit-daily")),
            daily_remaining=_count(lowered.get("x-ratelimit-daily-remaining")),
            retry_after=_retry_after(lowered.get("retry-after"), lowered.get("date")),
        )


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from a response's ``Retry-After``, or None if it is absent or not sane.

    Either seconds or an HTTP date; a date is measured against the response's own ``Date``
    header (never our wall clock), so without a ``Date`` it reads as None.
    """
    lowered = _lowered(headers)
    return _retry_after(lowered.get("retry-after"), lowered.get("date"))


def _lowered(headers: Mapping[str, str] | None) -> dict[str, str]:
    return {key.lower(): value for key, value in (headers or {}).items()}


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
