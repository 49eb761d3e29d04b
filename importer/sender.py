"""Workers that send creates concurrently, retry what is safe to retry, and report outcomes.

A fixed pool of ``concurrency`` workers pulls jobs from a bounded queue (no task per row), so
memory stays flat whatever the file's size. Pacing is the rate limiter's job (inside the
client); retries are tenacity's: 429s, 5xx, timeouts and dropped connections are tried again
with exponential back-off and jitter (at least the server's Retry-After), a bounded number of
times. A create that may have been written before it failed (5xx, read timeout, dropped
connection) is *in doubt*: when its retry is answered "duplicate relation", the relation is
looked up and recorded as ``created`` with its id, never as ``already_exists``.

An :class:`AuthError` stops the whole run; a :class:`BudgetExhaustedError` stops one location.
Either way every later job still gets an outcome (``not_sent``, with the reason).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt
from tenacity.wait import wait_exponential_jitter

from importer.client import Client
from importer.errors import (
    AuthError,
    BudgetExhaustedError,
    DuplicateRelationError,
    RateLimitedError,
    RejectedError,
    RetryableError,
)
from importer.models import Outcome, Pair, Status

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Job:
    """One valid row to send. ``seq`` identifies the row to whoever records outcomes.

    ``in_doubt``: an earlier process may have written this pair (it recorded an intent and
    died): look it up before sending. ``note`` is kept in the outcome's error column.
    """

    seq: int
    number: int
    location_id: str
    association_id: str
    pair: Pair
    in_doubt: bool = False
    note: str = ""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 6
    backoff_initial: float = 0.5
    backoff_max: float = 30.0


OnOutcome = Callable[[Job, Outcome], Awaitable[None]]
BeforeSend = Callable[[Job], None]
INTERRUPTED = "not sent: the run was interrupted; run the same command again to resume"


class _Interrupted(Exception):
    """Raised inside a retry loop once the run is interrupted."""


class _Tally:
    """Requests sent for one job, and whether one of them may have written unseen."""

    def __init__(self, *, in_doubt: bool) -> None:
        self.requests = 0
        self.in_doubt = in_doubt

    async def count(self, call: Awaitable[T]) -> T:
        """Await one request; count it unless it never left (the day's budget is spent)."""
        try:
            result = await call
        except BudgetExhaustedError:
            raise
        except RetryableError as error:
            self.requests += 1
            self.in_doubt = self.in_doubt or error.maybe_written
            raise
        except Exception:
            self.requests += 1
            raise
        self.requests += 1
        return result


class Sender:
    """Sends jobs through ``client``; ``fatal`` holds the error that stopped the run, if any."""

    done_word = "created"  # what a request in doubt may have done, for messages

    def __init__(
        self,
        client: Client,
        *,
        retry: RetryPolicy,
        concurrency: int,
        sleep: Sleep = asyncio.sleep,
        before_send: BeforeSend | None = None,
    ) -> None:
        self._client = client
        self._before_send = before_send or (lambda job: None)
        self._retry = retry
        self._concurrency = concurrency
        self._sleep = sleep
        self._backoff = wait_exponential_jitter(
            multiplier=retry.backoff_initial, max=retry.backoff_max
        )
        self.fatal: AuthError | None = None
        self.stopped_locations: dict[str, str] = {}
        self.interrupted = False

    def interrupt(self) -> None:
        """Stop taking new rows; requests in flight finish (their retries do not start)."""
        self.interrupted = True

    def _not_sent(self, job: Job) -> Outcome | None:
        """The outcome of a job that must not be sent any more, or None to send it."""
        if self.fatal is not None:
            reason = f"not sent: the run stopped because {self.fatal.message}"
            return Outcome(Status.NOT_SENT, error_code="auth", error=reason)
        if self.interrupted:
            return Outcome(Status.NOT_SENT, error_code="interrupted", error=INTERRUPTED)
        spent = self.stopped_locations.get(job.location_id)
        if spent is not None:
            return Outcome(Status.NOT_SENT, error_code="daily_budget", error=spent)
        return None

    async def run(self, jobs: AsyncIterable[Job], on_outcome: OnOutcome) -> None:
        """Send every job and report exactly one outcome for each."""
        queue: asyncio.Queue[Job | None] = asyncio.Queue(maxsize=self._concurrency * 2)

        async def worker() -> None:
            while (job := await queue.get()) is not None:
                await on_outcome(job, await self._settle(job))

        workers = [asyncio.create_task(worker()) for _ in range(self._concurrency)]
        try:
            async for job in jobs:
                stopped = self._not_sent(job)
                if stopped is not None:
                    await on_outcome(job, stopped)
                else:
                    await queue.put(job)
            for _ in workers:
                await queue.put(None)
            await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()

    async def _settle(self, job: Job) -> Outcome:
        """Send one job with retries; the outcome says what became of it, whatever happens."""
        stopped = self._not_sent(job)
        if stopped is not None:
            return stopped
        tally = _Tally(in_doubt=job.in_doubt)
        try:
            outcome = await self._act(job, tally)
        except _Interrupted:
            outcome = Outcome(Status.NOT_SENT, error_code="interrupted", error=INTERRUPTED)
        except RejectedError as error:
            outcome = Outcome(
                Status.FAILED, error_code="rejected", error=error.message, http_status=error.status
            )
        except RetryableError as error:
            doubt = (
                f" (it may have been {self.done_word}: a re-run will tell)"
                if tally.in_doubt
                else ""
            )
            outcome = Outcome(
                Status.FAILED,
                error_code="rate_limited" if isinstance(error, RateLimitedError) else "gave_up",
                error=f"gave up after {tally.requests} requests: {error.message}{doubt}",
                http_status=error.status,
            )
        except BudgetExhaustedError as error:
            self.stopped_locations.setdefault(error.location_id, str(error))
            outcome = Outcome(Status.NOT_SENT, error_code="daily_budget", error=str(error))
        except AuthError as error:
            if self.fatal is None:
                self.fatal = error
            outcome = Outcome(
                Status.NOT_SENT, error_code="auth", error=error.message, http_status=error.status
            )
        in_doubt = tally.in_doubt and outcome.status in (Status.FAILED, Status.NOT_SENT)
        return replace(outcome, attempts=tally.requests, in_doubt=in_doubt)

    async def _act(self, job: Job, tally: _Tally) -> Outcome:
        """Create the relation. A create in doubt is looked up before it is sent again."""
        found_by_lookup = False

        async def create() -> str:
            nonlocal found_by_lookup
            if self.interrupted and tally.requests:
                raise _Interrupted
            if tally.in_doubt:  # the pair may exist already: one look-up, not a blind re-send
                found = await tally.count(self._find(job))
                if found is not None:
                    found_by_lookup = True
                    return found
            self._before_send(job)
            return await tally.count(
                self._client.create_relation(job.location_id, job.association_id, job.pair)
            )

        try:
            relation_id = await self._with_retries(create)
        except DuplicateRelationError as error:
            if not tally.in_doubt:
                return Outcome(Status.ALREADY_EXISTS, http_status=error.status)

            # our own earlier attempt wrote it: find its id, never call it "already exists"
            async def find() -> str | None:
                return await tally.count(self._find(job))

            found_id = await self._with_retries(find)
            if found_id is None:
                return Outcome(Status.ALREADY_EXISTS, http_status=error.status)
            return Outcome(Status.CREATED, relation_id=found_id, http_status=200)
        return Outcome(
            Status.CREATED, relation_id=relation_id, http_status=200 if found_by_lookup else 201
        )

    async def _find(self, job: Job) -> str | None:
        return await self._client.find_relation(job.location_id, job.association_id, job.pair)

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, RateLimitedError):
            return error.retry_after or 0.0  # the limiter already paused the whole location
        backoff = float(self._backoff(state))
        if isinstance(error, RetryableError) and error.retry_after:
            return max(backoff, error.retry_after)
        return backoff

    async def _with_retries(self, call: Callable[[], Awaitable[T]]) -> T:
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._retry.max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(RetryableError),
            sleep=self._sleep,
            reraise=True,
        )
        return await retrying(call)
