"""importer.run: a lane per location, on an event loop with virtual time."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import pytest

from importer.api import RateLimiter, RateLimits
from importer.run import dispatch
from tests.conftest import now, run


@dataclass(frozen=True)
class Job:
    seq: int
    location_id: str


def sorted_by_location(locations: int, each: int) -> list[Job]:
    """A file sorted by location: every row of the first location, then the second..."""
    return [Job(n * each + i, f"loc{n}") for n in range(locations) for i in range(each)]


async def paced(
    jobs: list[Job], *, per_location: int = 4, read_ahead: int = 1000, latency: float = 0.1
) -> tuple[dict[str, float], list[list[Job]], Counter[int]]:
    """Send ``jobs`` through dispatch, each location limited to 10 per second: when each
    location finished, the groups of intents, and how often each job was sent."""
    limiter = RateLimiter(
        RateLimits(max_requests=10, window_seconds=1.0), clock=asyncio.get_running_loop().time
    )
    finished: dict[str, float] = {}
    groups: list[list[Job]] = []
    intended: set[int] = set()
    sent: Counter[int] = Counter()

    async def source() -> AsyncIterator[Job]:
        for job in jobs:
            yield job

    async def send(job: Job) -> None:
        assert job.seq in intended, "sent before its intent"
        async with await limiter.location(job.location_id).acquire():
            await asyncio.sleep(latency)
        sent[job.seq] += 1
        finished[job.location_id] = now()

    def before_queue(group: Sequence[Job]) -> None:
        groups.append(list(group))
        intended.update(job.seq for job in group)

    await dispatch(
        source(), send, per_location=per_location, before_queue=before_queue, read_ahead=read_ahead
    )
    return finished, groups, sent


def test_locations_run_side_by_side_even_when_the_file_is_sorted_by_location() -> None:
    jobs = sorted_by_location(locations=4, each=50)
    finished, groups, sent = run(lambda: paced(jobs))
    assert sent == Counter({job.seq: 1 for job in jobs})  # every job once
    # 50 at 10 per second is ~4.2 s (a burst of 10, then 10 a second); one location after
    # another would take four times that: each location ends in its own time
    assert max(finished.values()) < 5.5
    assert all(len(group) <= 32 for group in groups)
    assert all(len({job.location_id for job in group}) == 1 for group in groups)


def test_a_location_at_its_limit_holds_no_worker_of_another() -> None:
    slow = [Job(i, "busy") for i in range(100)]
    quick = [Job(100 + i, "idle") for i in range(5)]
    finished, _, _ = run(lambda: paced(slow + quick, per_location=2))
    assert finished["idle"] < 1.0 < finished["busy"]  # the idle one is not behind the busy one


@pytest.mark.parametrize("read_ahead", [10, 64])
def test_the_reader_stays_at_most_read_ahead_jobs_ahead(read_ahead: int) -> None:
    async def main() -> int:
        read, taken, most = 0, 0, 0

        async def source() -> AsyncIterator[Job]:
            nonlocal read, most
            for job in sorted_by_location(locations=2, each=100):
                read += 1
                most = max(most, read - taken)
                yield job

        async def send(job: Job) -> None:
            await asyncio.sleep(0.01)

        def before_queue(group: Sequence[Job]) -> None:
            nonlocal taken
            taken += len(group)

        await dispatch(
            source(), send, per_location=2, before_queue=before_queue, read_ahead=read_ahead
        )
        return most

    assert run(main) <= read_ahead
