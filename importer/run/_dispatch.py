"""Jobs to workers, one lane per location: no location waits behind another's rate limit.

Jobs arrive in input order (one pass over the file). Each location has a *lane*: a backlog
(jobs read, no intent yet), a ready list (their intents committed: they may be sent) and
``per_location`` workers of its own, started with the location's first job. A worker takes
only its own location's jobs, so it waits only in its own location's limiter: a location at
its limit holds no worker another location could use, and a job of one location never waits
in a queue behind jobs of another (no head-of-line blocking). N locations are N x 10
requests a second, until the CPU is the limit; they share one client and its connections.

Intents are committed a group at a time (``before_queue``, one fsync per group): a lane moves
up to ``group`` jobs from its backlog to its ready list when fewer than ``per_location`` are
ready, so the next group is on disk before its workers run dry.

Memory: the backlogs together hold at most ``read_ahead`` jobs; when the reader is that far
ahead, it waits for the workers. So a file sorted by location, with more rows of one location
than that, still runs its first locations partly one after another: ``relimport split`` (or
interleaving the rows) spreads such a file.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterable, Awaitable, Callable, Sequence
from typing import Generic, Protocol, TypeVar


class Located(Protocol):
    @property
    def location_id(self) -> str: ...


J = TypeVar("J", bound=Located)


READ_AHEAD = 20_000  # jobs held in the backlogs, at most
INTENT_GROUP = 32  # jobs whose intents are committed together, at most


class _Lane(Generic[J]):
    __slots__ = ("backlog", "ready", "wake")

    def __init__(self) -> None:
        self.backlog: deque[J] = deque()
        self.ready: deque[J] = deque()
        self.wake = asyncio.Event()


async def dispatch(
    jobs: AsyncIterable[J],
    send: Callable[[J], Awaitable[None]],
    *,
    per_location: int,
    before_queue: Callable[[Sequence[J]], None],
    read_ahead: int = READ_AHEAD,
    group: int = INTENT_GROUP,
) -> None:
    """Send every job through ``send`` on its location's workers; return when all are sent."""
    lanes: dict[str, _Lane[J]] = {}
    tasks: list[asyncio.Task[None]] = []
    room = asyncio.Event()
    held = 0
    reading = True

    async def worker(lane: _Lane[J]) -> None:
        nonlocal held
        while True:
            if len(lane.ready) < per_location and lane.backlog:
                batch = [lane.backlog.popleft() for _ in range(min(group, len(lane.backlog)))]
                before_queue(batch)
                lane.ready.extend(batch)
            if lane.ready:
                job = lane.ready.popleft()
                held -= 1
                room.set()
                await send(job)
            elif reading:
                lane.wake.clear()
                await lane.wake.wait()
            else:
                return

    try:
        async for job in jobs:
            lane = lanes.get(job.location_id)
            if lane is None:
                lane = lanes[job.location_id] = _Lane()
                tasks += [asyncio.create_task(worker(lane)) for _ in range(per_location)]
            lane.backlog.append(job)
            held += 1
            lane.wake.set()
            while held >= read_ahead:
                room.clear()
                await room.wait()
        reading = False
        for lane in lanes.values():
            lane.wake.set()
        await asyncio.gather(*tasks)
    finally:
        for task in tasks:
            task.cancel()
