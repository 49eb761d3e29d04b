"""The sizes of a run: the full suite (``make bench``) and the smoke run CI does."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Params:
    #: Rate fidelity: the sandbox's burst per window (time compressed 10x: 100 per 1 s
    #: instead of 100 per 10 s) and relimport's rate_limit set to the same.
    burst: int = 100
    window: float = 1.0
    rate_rows: int = 3000  # honest headers
    fault_rows: int = 1000  # stricter than its headers; limit dropping mid-run
    stricter_burst: int = 70  # enforced while advertising `burst`
    drops_to: int = 50
    drops_after: int = 300
    #: Rate fidelity at the API's real window (100 per 10 s, not compressed), with round trips
    #: of real_latency + up to real_jitter seconds: at least 1,000 requests.
    real_rows: int = 1200
    real_latency: float = 0.08
    real_jitter: float = 0.07
    #: Requests per row: a clean file, then the same command again.
    per_row_rows: int = 500
    #: Overhead, server unthrottled: rows per contender at 0 ms and at the injected latency.
    fast_rows: int = 2000
    slow_rows: int = 800
    sdk_slow_rows: int = 100  # the SDK is sequential: 1 / latency rows per second at best
    latency: float = 0.15
    concurrency: int = 8
    #: The SDK under the (compressed) honest limit: how many rows a plain loop loses.
    sdk_limited_rows: int = 1000
    #: Many locations in one process: each allows location_burst per location_window (the
    #: API's 10 per second, its window compressed 10x), location_rows rows per location.
    location_counts: tuple[int, ...] = (1, 4, 16, 64)
    location_rows: int = 150
    location_burst: int = 10
    location_window: float = 1.0
    #: Files read and validated (dry run).
    file_rows: tuple[int, ...] = (100_000, 1_000_000)
    skip_big_xlsx: bool = False
    #: Nightly: a cumulative export of nightly_rows pairs, nightly_new more on night 2.
    nightly_rows: int = 5000
    nightly_new: int = 50
    nightly_teachers: int = 200


FULL = Params()
SMOKE = Params(
    burst=20,
    window=0.5,
    rate_rows=60,
    fault_rows=40,
    stricter_burst=14,
    drops_to=10,
    drops_after=15,
    real_rows=30,
    per_row_rows=30,
    fast_rows=60,
    slow_rows=24,
    sdk_slow_rows=6,
    latency=0.02,
    sdk_limited_rows=40,
    file_rows=(500, 1_000),
    location_counts=(1, 4),
    location_rows=10,
    nightly_rows=100,
    nightly_new=10,
    nightly_teachers=20,
)
