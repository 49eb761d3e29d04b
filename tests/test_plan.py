"""The dry run's plan (:class:`importer.report.Plan`): what the real run costs, per location and
purpose, as a person reads it and as plan.json holds it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from importer.report import CACHED, PURPOSES, LocationPlan, Plan


def location(name: str = "loc1", **changes: object) -> LocationPlan:
    values: dict[str, object] = {
        "location": name,
        "requests": {"associations": 1, "look-ups": 40, "creates": 100},
        "daily_remaining": 1000,
        "daily_limit": 200_000,
        "reserve": 0,
        "per_second": 10.0,
    }
    values.update(changes)
    return LocationPlan(**values)  # type: ignore[arg-type]


def test_a_location_counts_its_requests_time_and_budget() -> None:
    fits = location()
    assert (fits.total, fits.available, fits.fits_today, fits.days) == (141, 1000, True, 1)
    assert fits.seconds == pytest.approx(14.1)
    tight = location(daily_remaining=300, daily_limit=60, reserve=10)
    # 290 available today, 50 a day after: 141 fit today
    assert (tight.available, tight.fits_today, tight.days) == (290, True, 1)
    over = location(requests={"creates": 1000}, daily_remaining=110, daily_limit=310, reserve=10)
    # 100 today, 300 a day after: 900 more take 3 days
    assert (over.available, over.fits_today, over.days) == (100, False, 4)
    assert location(per_second=0).seconds == 0.0
    assert location(daily_remaining=5, reserve=10).available == 0


def test_the_plan_reads_as_a_few_lines_for_a_person() -> None:
    plan = Plan(
        rows={"created": 100, "invalid": 2},
        locations=(
            location(),
            location(
                "loc2",
                requests={"associations": 1, "existing relations": 1, "creates": 1},
                daily_remaining=1,
                daily_limit=20,
                reserve=0,
                per_second=0.01,
            ),
        ),
        spent_now={"associations": 2, "look-ups": 40},
        reuse_hours=12,
        existing_found=0,
    )
    assert plan.total == 144
    assert plan.seconds == pytest.approx(300)  # loc2 at 0.01 requests/s sets the pace
    assert plan.lines() == [
        "Plan: the real run needs 144 requests (2 associations, 40 look-ups, "
        "1 read of existing relations, 101 creates).",
        "  Look-ups and record checks made now are reused by a run within 12 hours "
        "(from the same folder of results).",
        "  --skip-existing reads 1 times and saves 0 creates: 1 more requests than sending "
        "every pair: leave it off for this file.",
        "  loc1: 141 requests, about 15 s at 10 requests/s; fits in today's budget "
        "(1000 requests left).",
        "  loc2: 3 requests, about 5 min at 0.01 requests/s; does not fit in today's budget "
        "(1 left): about 2 days.",
    ]


def test_a_plan_with_nothing_to_send_says_so() -> None:
    plan = Plan(rows={}, locations=(location(requests={}),), spent_now={}, reuse_hours=0)
    assert plan.lines() == [
        "Plan: the real run needs 0 requests (none).",
        "  loc1: 0 requests, about 0 s at 10 requests/s; fits in today's budget "
        "(1000 requests left).",
    ]


def test_plan_json_holds_the_totals_per_purpose_and_location(tmp_path: Path) -> None:
    plan = Plan(
        rows={"created": 2},
        locations=(location(reserve=100, requests={"creates": 7200 * 10}),),
        spent_now={"record checks": 3},
        reuse_hours=6,
        existing_found=5,
    )
    expected = {
        "rows": {"created": 2},
        "requests": {"total": 72_000, **dict.fromkeys(PURPOSES, 0), "creates": 72_000},
        "requests_made_by_this_dry_run": {"record checks": 3},
        "lookups_reused_for_hours": 6,
        "skip_existing": {"reads": 0, "creates_saved": 5},
        "eta_seconds": 7200.0,
        "fits_today": False,
        "days": 2,
        "locations": [
            {
                "location": "loc1",
                "requests": {"creates": 72_000},
                "daily_remaining": 1000,
                "daily_limit": 200_000,
                "reserve": 100,
                "per_second": 10.0,
                "total": 72_000,
                "fits_today": False,
                "days": 2,
                "eta_seconds": 7200.0,
            }
        ],
    }
    assert plan.as_json() == expected
    plan.write_json(tmp_path / "plan.json")
    assert json.loads((tmp_path / "plan.json").read_text()) == expected
    assert plan.lines()[-1] == (
        "  loc1: 72000 requests, about 2.0 h at 10 requests/s; does not fit in today's "
        "budget (900 left): about 2 days."
    )
    assert set(PURPOSES) >= CACHED  # what the real run takes from the cache is a purpose
