"""Workers that send creates concurrently, retry what is safe to retry, and report outcomes.

Each location has ``concurrency`` workers of its own, fed by :mod:`importer.run` (no
task per row, a bounded read-ahead), so locations run side by side at their own pace and
memory stays flat whatever the file's size. Pacing is the rate limiter's job (inside the
client); retries are tenacity's: 429s, 5xx, timeouts and dropped connections are tried again
with exponential back-off and jitter (at least the server's Retry-After), a bounded number of
times. A create that may have been written before it failed (5xx, read timeout, dropped
connection, an unreadable success) is *in doubt*: before it is sent again the pair is looked
up, and a relation found is judged by the creation time in its id (``created`` by us, or
``already_exists`` from before; ``unverified`` when the id cannot tell).

A definitive answer settles a row whatever doubt came before: a look-up that finds nothing
proves no earlier attempt wrote the pair, so the create that follows decides alone (a 4xx that
is not a 429 is final; a 201 is ``created``).

An :class:`AuthError` stops the whole run, and so does an API that cannot be reached: when
``unreachable_failures`` rows in a row have got no answer at all (no connection, timeouts) over
at least ``unreachable_seconds``, retrying every row would only spend hours failing. A
:class:`BudgetExhaustedError` stops one location. Either way every later job still gets an
outcome (``not_sent``, with the reason), and the same command resumes.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from typing import TypeVar

from importer.api import Client, Retries, RetryPolicy
from importer.errors import (
    AuthError,
    BudgetExhaustedError,
    DuplicateRelationError,
    LocationRefusingError,
    RateLimitedError,
    RejectedError,
    RelimportError,
    RetryableError,
    UnreachableError,
)
from importer.models import IN_DOUBT, Outcome, Pair, Status
from importer.run._dispatch import dispatch
from importer.timing import Sleep

T = TypeVar("T")


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
    doubt_since: float | None = None  # wall-clock time of the first create in doubt, if known
    note: str = ""
    relation_id: str = ""  # for a delete


OnOutcome = Callable[[Job, Outcome], Awaitable[None]]
BeforeQueue = Callable[[Sequence[Job]], None]
INTERRUPTED = "not sent: the run was interrupted; run the same command again to resume"
#: The same for a run that cannot resume (the built-in sandbox keeps nothing between runs).
INTERRUPTED_FOR_GOOD = (
    "not sent: the run was interrupted; the built-in sandbox keeps nothing between runs, so "
    "running the command again starts over"
)
OBJECT_ID = re.compile(r"[0-9a-f]{24}")
CLOCK_SKEW = 2.0  # seconds: Date headers and ObjectIds count whole seconds
UNVERIFIED = "unverified"  # error code of a created row that may have existed before


class Interrupted(Exception):
    """Raised inside a retry loop once the run is interrupted."""


class _LookupFailed(Exception):
    """A look-up of a create in doubt was refused (4xx): the row stays in doubt."""

    def __init__(self, error: RejectedError) -> None:
        super().__init__(error.message)
        self.error = error


class Tally:
    """Requests sent for one job, and whether one of them may have written unseen.

    ``cleared`` is set when a look-up found that no earlier attempt wrote the pair: the doubt
    is over, and the answers that follow settle the row."""

    def __init__(self, *, in_doubt: bool) -> None:
        self.requests = 0
        self.in_doubt = in_doubt
        self.cleared = False
        self.unanswered: UnreachableError | None = None  # the last request got no answer

    def clear(self) -> None:
        self.in_doubt = False
        self.cleared = True

    async def count(self, call: Awaitable[T]) -> T:
        """Await one request; count it unless it never left (the day's budget is spent)."""
        try:
            result = await call
        except BudgetExhaustedError:
            raise
        except RetryableError as error:
            self.requests += 1
            self.in_doubt = self.in_doubt or error.maybe_written
            self.unanswered = error if isinstance(error, UnreachableError) else None
            raise
        except Exception:
            self.requests += 1
            self.unanswered = None
            raise
        self.requests += 1
        self.unanswered = None
        return result


class Reachability:
    """Whether the API still answers: rows in a row that got no answer at all, and since when.

    One row that cannot connect proves little (a blip, one bad connection); ``failures`` rows
    in a row, each after all its retries, over at least ``seconds``, mean the API or the
    network is down, and the run stops instead of spending hours failing row by row."""

    def __init__(self, failures: int, seconds: float, clock: Callable[[], float]) -> None:
        self._failures, self._seconds, self._clock = failures, seconds, clock
        self._streak = 0
        self._since: float | None = None  # when the first row of the streak started

    def answered(self) -> None:
        self._streak, self._since = 0, None

    def unanswered(self, started: float) -> bool:
        """Count a row that got no answer; True when the run should stop."""
        self._streak += 1
        self._since = started if self._since is None else min(self._since, started)
        return self._streak >= self._failures and self._clock() - self._since >= self._seconds

    def reason(self, base_url: str, error: UnreachableError) -> str:
        seconds = self._clock() - (self._since or 0.0)
        return (
            f"the API at {base_url} did not answer: {self._streak} rows in a row got no answer "
            f"over {seconds:.0f} s (the last: {error.reason}). Check "
            "--base-url and the network"
        )


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
        before_queue: BeforeQueue | None = None,
        wall: Callable[[], float] = time.time,
        clock: Callable[[], float] = time.monotonic,
        resumable: bool = True,
    ) -> None:
        self._client = client
        self._interrupted = INTERRUPTED if resumable else INTERRUPTED_FOR_GOOD
        self._wall = wall
        self._clock = clock
        self._before_queue = before_queue or (lambda jobs: None)
        self._retries = Retries(retry, sleep)
        self._reach = Reachability(retry.unreachable_failures, retry.unreachable_seconds, clock)
        self._concurrency = concurrency
        #: The error that stopped the whole run (a refused token, an API that is not there).
        self.fatal: RelimportError | None = None
        self.fatal_code = ""  # the error code of the rows it left unsent: auth, unreachable
        self.stopped_locations: dict[str, str] = {}  # location -> why it stopped
        self._stop_codes: dict[str, str] = {}
        self.interrupted = False

    def interrupt(self) -> None:
        """Stop taking new rows; requests in flight finish (their retries do not start)."""
        self.interrupted = True

    def stop_outcome(self) -> Outcome | None:
        """What every row not sent yet gets once the whole run has stopped (None: it has not)."""
        if self.fatal is not None:
            reason = f"not sent: the run stopped because {self.fatal}"
            return Outcome(Status.NOT_SENT, error_code=self.fatal_code, error=reason)
        if self.interrupted:
            return Outcome(Status.NOT_SENT, error_code="interrupted", error=self._interrupted)
        return None

    def _stop(self, error: RelimportError, code: str) -> None:
        if self.fatal is None:
            self.fatal, self.fatal_code = error, code

    def _not_sent(self, job: Job) -> Outcome | None:
        """The outcome of a job that must not be sent any more, or None to send it.

        A job in doubt stays in doubt: not sending it now proves nothing about the past."""
        outcome = self.stop_outcome()
        if outcome is None and job.location_id in self.stopped_locations:
            code, reason = (
                self._stop_codes[job.location_id],
                self.stopped_locations[job.location_id],
            )
            outcome = Outcome(Status.NOT_SENT, error_code=code, error=reason)
        if outcome is None:
            return None
        return replace(outcome, in_doubt=job.in_doubt)

    async def run(self, jobs: AsyncIterable[Job], on_outcome: OnOutcome) -> None:
        """Send every job and report exactly one outcome for each.

        Each location has workers of its own (``concurrency`` of them; see
        :mod:`importer.run`); ``before_queue`` sees each group of jobs before any of them
        may be sent (the journal's intents, one commit per group)."""

        async def send(job: Job) -> None:
            try:
                outcome = await self._settle(job)
            except Exception as error:  # a bug or an answer nobody foresaw: the row
                outcome = Outcome(  # still gets its outcome, and the run goes on
                    Status.FAILED,
                    error_code="unexpected",
                    error=f"unexpected error ({type(error).__name__}: {error}); "
                    f"the request may have been written: {IN_DOUBT}",
                    in_doubt=True,
                )
            await on_outcome(job, outcome)

        async def sendable() -> AsyncIterator[Job]:
            async for job in jobs:
                stopped = self._not_sent(job)
                if stopped is not None:
                    await on_outcome(job, stopped)
                else:
                    yield job

        await dispatch(
            sendable(), send, per_location=self._concurrency, before_queue=self._before_queue
        )

    async def _settle(self, job: Job) -> Outcome:
        """Send one job with retries; the outcome says what became of it, whatever happens."""
        stopped = self._not_sent(job)
        if stopped is not None:
            return stopped
        tally = Tally(in_doubt=job.in_doubt)
        started = self._clock()
        try:
            outcome = await self._act(job, tally)
        except Interrupted:
            outcome = Outcome(Status.NOT_SENT, error_code="interrupted", error=self._interrupted)
        except _LookupFailed as failure:
            outcome = Outcome(
                Status.FAILED,
                error_code="lookup_failed",
                error=f"a create may have been written, and looking it up failed: "
                f"{failure.error.message}",
                http_status=failure.error.status,
            )
        except RejectedError as error:  # definitive: settles the row, whatever doubt came before
            if tally.in_doubt:  # a refusal cannot be an echo of an earlier write (a duplicate is)
                tally.clear()
            outcome = Outcome(
                Status.FAILED, error_code="rejected", error=error.message, http_status=error.status
            )
        except RetryableError as error:
            outcome = Outcome(
                Status.FAILED,
                error_code="rate_limited" if isinstance(error, RateLimitedError) else "gave_up",
                error=f"gave up after {tally.requests} requests: {error.message}",
                http_status=error.status,
            )
            if isinstance(error, UnreachableError) and not tally.in_doubt:  # it never left
                outcome = replace(outcome, status=Status.NOT_SENT, error_code="unreachable")
        except BudgetExhaustedError as error:
            code = "refused" if isinstance(error, LocationRefusingError) else "daily_budget"
            self.stopped_locations.setdefault(error.location_id, str(error))
            self._stop_codes.setdefault(error.location_id, code)
            outcome = Outcome(Status.NOT_SENT, error_code=code, error=str(error))
        except AuthError as error:
            self._stop(error, "auth")
            outcome = Outcome(
                Status.NOT_SENT, error_code="auth", error=error.message, http_status=error.status
            )
        if tally.unanswered is not None:
            if self._reach.unanswered(started):
                base_url = self._client.base_url
                self._stop(
                    UnreachableError(self._reach.reason(base_url, tally.unanswered)), "unreachable"
                )
        elif tally.requests:
            self._reach.answered()
        in_doubt = tally.in_doubt and outcome.status in (Status.FAILED, Status.NOT_SENT)
        text = outcome.error
        if in_doubt:  # the mark lets a re-run of the result file (--only) look it up first
            text = f"{text} (a request may have {self.done_word} it: {IN_DOUBT})"
        elif tally.cleared and outcome.status is not Status.CREATED:  # say what was learnt
            text = f"{text} (this answer settles the row an earlier attempt left in doubt)"
        return replace(outcome, error=text, attempts=tally.requests, in_doubt=in_doubt)

    async def _act(self, job: Job, tally: Tally) -> Outcome:
        """Create the relation. A create in doubt is looked up before it is sent again."""
        found_id: str | None = None
        since = job.doubt_since

        async def create() -> str:
            nonlocal found_id, since
            if self.interrupted and tally.requests:
                raise Interrupted
            if tally.in_doubt:  # the pair may exist already: one look-up, not a blind re-send
                try:
                    found_id = await self._find(job, tally)
                except _LookupFailed:  # cannot tell: the create's own answer will (a duplicate
                    pass  # is no second relation; a refusal or a 201 settles the row)
                else:
                    if found_id is not None:
                        return found_id
                    tally.clear()  # not there: no earlier attempt wrote it; the create decides
            since = since or self._wall()
            return await tally.count(
                self._client.create_relation(job.location_id, job.association_id, job.pair)
            )

        try:
            relation_id = await self._retries(create)
        except DuplicateRelationError as error:
            if not tally.in_doubt:
                return Outcome(Status.ALREADY_EXISTS, http_status=error.status)

            # perhaps our own earlier attempt wrote it: find it and judge by its id
            async def find() -> str | None:
                return await self._find(job, tally)

            found_id = await self._retries(find)
            if found_id is None:
                return Outcome(Status.ALREADY_EXISTS, http_status=error.status)
            return self._judge(found_id, since)
        if found_id is not None:
            return self._judge(found_id, since)
        return Outcome(Status.CREATED, relation_id=relation_id, http_status=201)

    def _judge(self, relation_id: str, since: float | None) -> Outcome:
        """A relation found after an answer was lost: ours, or there before this run?

        The API does not say. Its relation ids are MongoDB ObjectIds [seen], whose first 8 hex
        digits are the creation time in seconds on the API's clock. We know when our first
        attempt left (``since``, our clock) and how far the API's clock is from ours (its Date
        headers, to the second): created before that, it was there before. When either is
        unknown, the row is ``created`` with the code ``unverified``, and ``undo`` leaves it
        alone unless asked: deleting a relation that existed before is the one thing undo must
        never do.
        """
        offset = self._client.clock_offset
        if OBJECT_ID.fullmatch(relation_id) and since is not None and offset is not None:
            if int(relation_id[:8], 16) < since + offset - CLOCK_SKEW:
                return Outcome(
                    Status.ALREADY_EXISTS,
                    relation_id=relation_id,
                    error="found after an answer was lost; its id shows it existed before",
                )
            return Outcome(
                Status.CREATED,
                relation_id=relation_id,
                error="created: the answer was lost, the relation was found (its id shows "
                "it was created by this run)",
            )
        return Outcome(
            Status.CREATED,
            relation_id=relation_id,
            error_code=UNVERIFIED,
            error="found after an answer was lost: most likely created by this run, but the "
            "API cannot tell whether it existed before; undo leaves it unless told otherwise",
        )

    async def _find(self, job: Job, tally: Tally) -> str | None:
        try:
            return await tally.count(
                self._client.find_relation(job.location_id, job.association_id, job.pair)
            )
        except RejectedError as error:  # the look-up, not the row, was refused
            raise _LookupFailed(error) from None
