"""Soak: 10,000 rows against a sandbox that misbehaves in every way at once (issue 6, item 3).

In-process (no socket) with time compressed; the assertions are the invariants, never timings:
every row settled and reported once, no pair created twice, no row lost, the limits kept.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from importer.run import run_import
from importer.sandbox import DEMO_LOCATION, FaultPlan, Limits, Sandbox
from tests.conftest import demo_settings, read_results
from tests.helpers import assert_settled, fast_retry, grid, grid_file, relations_on, seeded

pytestmark = pytest.mark.slow


def soak(
    tmp_path: Path,
    students: int,
    teachers: int,
    limits: Limits,
    faults: FaultPlan,
    **settings: object,
) -> tuple[Sandbox, list[dict[str, str]], int]:
    """Every pair of the grid, none there before: every row settled once, every pair there."""
    sandbox = seeded(students, teachers, relations=False, limits=limits, faults=faults)
    pairs = grid(students, teachers)
    path = grid_file(tmp_path / "soak.csv", pairs)
    options = {
        "concurrency": 16,
        "timeouts": {"read": 0.05, "connect": 1},
        "retry": fast_retry(),
        **settings,
    }
    summary = run_import(path, demo_settings(tmp_path, **options), transport=sandbox.transport())
    results = read_results(summary.result_path)
    assert_settled(sandbox, results, len(pairs))
    assert set(relations_on(sandbox)) == set(pairs)  # every pair there
    return sandbox, results, summary.exit_code


def test_ten_thousand_rows_through_every_fault_at_once(tmp_path: Path) -> None:
    sandbox, results, code = soak(
        tmp_path,
        students=500,
        teachers=20,
        limits=Limits(burst=400, interval=0.25),
        faults=FaultPlan(
            fail_rate=0.05,
            drop_rate=0.02,
            timeout_rate=0.02,
            timeout_delay=0.2,
            latency=0.001,
            latency_jitter=0.01,
            advertised_max=600,
            seed=7,
        ),
        rate_limit={"max_requests": 600, "window_seconds": 0.25},
    )
    assert code == 0
    # everything was made by this run: a relation found after a lost answer proves it by its id
    assert Counter(r["status"] for r in results) == {"created": 10_000}
    stats = sandbox.stats(DEMO_LOCATION)
    assert stats.max_in_window <= 400
    assert stats.server_errors > 300 and stats.dropped > 100 and stats.timed_out > 100


def test_a_429_storm_with_no_headers_at_all(tmp_path: Path) -> None:
    sandbox, results, code = soak(
        tmp_path,
        students=100,
        teachers=20,
        limits=Limits(burst=100, interval=0.25),
        faults=FaultPlan(rate_limit_headers=False, fail_rate=0.02, drop_rate=0.01, seed=3),
        rate_limit={"max_requests": 1000, "window_seconds": 0.25},
    )
    assert code == 0
    assert Counter(r["status"] for r in results) == {"created": 2_000}
    stats = sandbox.stats(DEMO_LOCATION)
    assert stats.rate_limited < stats.requests * 0.25  # it learns the real pace
