"""The plan: what a real run of this file will cost, told by its dry run before it is sent.

A dry run asks only read-only questions (the association, look-ups, record checks, existing
relations), so it knows every row's expected status. From that and the rate-limit headers it
saw, the plan says how many requests the real run needs, per location and per purpose, how
long they take at the advertised rate, and whether they fit in the day's budget left.

The forecast assumes the real run follows within ``lookup_cache_hours``: its look-ups and
record checks are then answered from the dry run's (see :mod:`importer.validate`), and only the
association, existing relations (which change) and the creates are asked again.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

from importer.report._csv import write_json

#: Purposes of requests, in the order a run spends them.
PURPOSES = (
    "associations",
    "object schemas",
    "look-ups",
    "record checks",
    "existing relations",
    "ledger checks",
    "creates",
    "mirror deletes",
)
#: Purposes whose answers the real run takes from the dry run's cache.
CACHED = frozenset({"look-ups", "record checks"})


@dataclass(frozen=True)
class LocationPlan:
    """One location's share: its requests, its pace and its budget."""

    location: str
    requests: dict[str, int]  # purpose -> requests the real run needs
    daily_remaining: int  # as the API's headers last said (less this dry run's requests)
    daily_limit: int
    reserve: int
    per_second: float  # the advertised rate: max requests per window / window

    @property
    def total(self) -> int:
        return sum(self.requests.values())

    @property
    def available(self) -> int:
        return max(0, self.daily_remaining - self.reserve)

    @property
    def fits_today(self) -> bool:
        return self.total <= self.available

    @property
    def days(self) -> int:
        """Days the run spans: today, and as many full budgets as the rest needs."""
        if self.fits_today:
            return 1
        per_day = max(1, self.daily_limit - self.reserve)
        return 1 + math.ceil((self.total - self.available) / per_day)

    @property
    def seconds(self) -> float:
        """Time at the advertised rate, budget aside."""
        return self.total / self.per_second if self.per_second > 0 else 0.0


@dataclass(frozen=True)
class Plan:
    """What the real run of the file would do and cost."""

    rows: dict[str, int]  # expected status -> rows
    locations: tuple[LocationPlan, ...]
    spent_now: dict[str, int]  # purpose -> requests this dry run made
    reuse_hours: float  # how long the dry run's look-ups serve the real run (0: not at all)
    existing_found: int | None = None  # --skip-existing: pairs found linked already

    @property
    def total(self) -> int:
        return sum(location.total for location in self.locations)

    @property
    def seconds(self) -> float:
        """Locations are paced separately, side by side: the slowest sets the time."""
        return max((location.seconds for location in self.locations), default=0.0)

    def as_json(self) -> dict[str, object]:
        return {
            "rows": self.rows,
            "requests": {
                "total": self.total,
                **{p: sum(x.requests.get(p, 0) for x in self.locations) for p in PURPOSES},
            },
            "requests_made_by_this_dry_run": self.spent_now,
            "lookups_reused_for_hours": self.reuse_hours,
            "skip_existing": self._skip_existing(),
            "eta_seconds": round(self.seconds, 1),
            "fits_today": all(location.fits_today for location in self.locations),
            "days": max((location.days for location in self.locations), default=1),
            "locations": [
                {
                    **asdict(location),
                    "total": location.total,
                    "fits_today": location.fits_today,
                    "days": location.days,
                    "eta_seconds": round(location.seconds, 1),
                }
                for location in self.locations
            ],
        }

    def write_json(self, path: Path) -> None:
        """Write :meth:`as_json` atomically (a temporary file, then a rename)."""
        write_json(path, self.as_json())

    def _skip_existing(self) -> dict[str, int] | None:
        """What --skip-existing costs (reads) and saves (creates of pairs already linked)."""
        if self.existing_found is None:
            return None
        reads = sum(x.requests.get("existing relations", 0) for x in self.locations)
        return {"reads": reads, "creates_saved": self.existing_found}

    def lines(self) -> list[str]:
        """The plan for a person, a few lines."""
        needs = ", ".join(
            _count(n, purpose)
            for purpose in PURPOSES
            if (n := sum(x.requests.get(purpose, 0) for x in self.locations))
        )
        lines = [f"Plan: the real run needs {_requests(self.total)} ({needs or 'none'})."]
        if self.reuse_hours and any(self.spent_now.get(p) for p in CACHED):
            lines.append(
                f"  Look-ups and record checks made now are reused by a run within "
                f"{self.reuse_hours:g} hours (from the same folder of results)."
            )
        skip = self._skip_existing()
        if skip is not None and skip["reads"]:
            saved, reads = skip["creates_saved"], skip["reads"]
            verdict = (
                f"{saved - reads} fewer requests than sending every pair: keep it"
                if saved > reads
                else f"{reads - saved} more requests than sending every pair: leave it off "
                "for this file"
            )
            lines.append(
                f"  --skip-existing reads {reads} times and saves {_count(saved, 'creates')}: "
                f"{verdict}."
            )
        for location in self.locations:
            if location.fits_today:
                budget = (
                    f"fits in today's budget ({_requests(location.available)} left"
                    f"{f', {location.reserve} kept in reserve' if location.reserve else ''})"
                )
            else:
                budget = (
                    f"does not fit in today's budget ({location.available} left): "
                    f"about {location.days} day{'' if location.days == 1 else 's'}"
                )
            lines.append(
                f"  {location.location}: {_requests(location.total)}, about "
                f"{_duration(location.seconds)} at {location.per_second:g} requests/s; {budget}."
            )
        return lines


_SINGULAR = {
    "associations": "association",
    "object schemas": "object schema",
    "look-ups": "look-up",
    "record checks": "record check",
    "existing relations": "read of existing relations",
    "ledger checks": "ledger check",
    "mirror deletes": "mirror delete",
    "creates": "create",
}


def _count(n: int, purpose: str) -> str:
    """``1 create``, ``2 creates``, ``3 reads of existing relations``."""
    if n == 1:
        return f"1 {_SINGULAR[purpose]}"
    if purpose == "existing relations":
        return f"{n} reads of existing relations"
    return f"{n} {purpose}"


def _requests(n: int) -> str:
    return "1 request" if n == 1 else f"{n} requests"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{math.ceil(seconds)} s"
    if seconds < 7200:
        return f"{math.ceil(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"
