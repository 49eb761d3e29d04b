"""The retry policy of every request: what is safe to try again, how long to wait, when to
stop. Shared by the association fetch, the look-ups, the sender and undo; tenacity retries.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type
from tenacity.wait import wait_exponential_jitter

from importer.config import RetrySettings, Settings
from importer.errors import (
    RateLimitedError,
    RetryableError,
)
from importer.timing import Sleep

T = TypeVar("T")


_DEFAULT = RetrySettings()  # the defaults live in config.py only


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """The ``retry`` settings as the client uses them (``RetryPolicy.of(settings)``)."""

    max_attempts: int = _DEFAULT.max_attempts
    backoff_initial: float = _DEFAULT.backoff_initial
    backoff_max: float = _DEFAULT.backoff_max
    unreachable_failures: int = _DEFAULT.unreachable_failures  # rows in a row unanswered...
    unreachable_seconds: float = _DEFAULT.unreachable_seconds  # ...this long: the run stops

    @classmethod
    def of(cls, settings: Settings) -> RetryPolicy:
        return cls(**settings.retry.model_dump())


class Retries:
    """Try a call again on :class:`RetryableError`: exponential back-off with jitter, at least
    the server's Retry-After. ``max_attempts`` failures of the request itself end it; 429s
    (the location was paced, not the row refused) have a larger allowance of their own.

    The policy is built once. A call that succeeds (or fails for good) at its first attempt,
    nearly every call, never enters tenacity; the first retryable failure hands the call to
    tenacity with that failure as its first attempt, so the attempts and waits are the same.
    """

    RATE_LIMITED_FACTOR = 4

    def __init__(self, policy: RetryPolicy, sleep: Sleep = asyncio.sleep) -> None:
        self._policy = policy
        self._backoff = wait_exponential_jitter(
            multiplier=policy.backoff_initial, max=policy.backoff_max
        )
        self._retrying = AsyncRetrying(
            wait=self._wait,
            retry=retry_if_exception_type(RetryableError),
            sleep=sleep,
            reraise=True,
        )

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RateLimitedError):
            return error.retry_after or 0.0  # the limiter already paused the whole location
        backoff = float(self._backoff(state))
        if isinstance(error, RetryableError) and error.retry_after:
            return max(backoff, error.retry_after)
        return backoff

    async def __call__(self, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await call()
        except RetryableError as error:
            first: RetryableError | None = error
        failures = 0

        def stop(state: RetryCallState) -> bool:
            nonlocal failures
            error = state.outcome.exception() if state.outcome else None
            if not isinstance(error, RateLimitedError):
                failures += 1
            limit = self._policy.max_attempts
            return failures >= limit or state.attempt_number >= limit * self.RATE_LIMITED_FACTOR

        async def again() -> T:
            nonlocal first
            if first is not None:  # the failure already seen is tenacity's first attempt
                error, first = first, None
                raise error
            return await call()

        # a copy per failing call: tenacity keeps a call's state in the object it runs
        return await self._retrying.copy(stop=stop)(again)
