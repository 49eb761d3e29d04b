"""Time, as every part of relimport takes it: a clock to read and a sleep to await.

Both are parameters wherever time matters (the rate limiter, retries, the sender, locks), so
that tests pass a virtual clock and sleep no real second (see ``tests/conftest.FakeTime``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

#: Seconds, from any fixed point (``time.monotonic`` by default).
Clock = Callable[[], float]
#: Waits the given seconds (``asyncio.sleep`` by default).
Sleep = Callable[[float], Awaitable[None]]
