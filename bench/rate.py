"""Family 1, rate fidelity: does relimport reach the limit, and lose nothing when the server
is stricter than its headers or lowers its limit mid-run?"""

from __future__ import annotations

from pathlib import Path

from bench.figures import Figure
from bench.params import Params
from bench.workload import Trial, import_over_loopback, pairs, sandbox
from importer.sandbox import FaultPlan, Limits


def measure(p: Params, work: Path) -> list[Figure]:
    allowed = p.burst / p.window
    limits = Limits(burst=p.burst, interval=p.window, daily=10**9)
    rows = pairs(p.rate_rows)
    honest = import_over_loopback(
        sandbox(len(rows), limits), rows, work, "rate-honest",
        max_requests=p.burst, window=p.window, concurrency=p.concurrency,
    )  # fmt: skip
    ratio = honest.stats.accepted / honest.child.wall / allowed
    figures = [
        Figure(
            "rate.honest.ratio",
            "Rate fidelity, honest headers: achieved / allowed rate",
            round(ratio, 3),
            f"{ratio:.3f}",
            ">= 0.97",
            ratio >= 0.97,
            f"{len(rows)} rows, {honest.stats.accepted} requests in {honest.child.wall:.1f} s "
            f"of the whole command, allowed {allowed:g}/s",
        ),
        *within_limits(
            "honest", "Rate fidelity, honest headers", "honest headers", honest, p.burst
        ),
    ]
    figures += real_window(p, work)
    rows = pairs(p.fault_rows)
    stricter = import_over_loopback(
        sandbox(len(rows), Limits(burst=p.stricter_burst, interval=p.window, daily=10**9),
                FaultPlan(advertised_max=p.burst)),
        rows, work, "rate-stricter", max_requests=p.burst, window=p.window,
        concurrency=p.concurrency,
    )  # fmt: skip
    what = f"advertises {p.burst}, enforces {p.stricter_burst} per window"
    figures += [
        lost_figure("stricter", f"server stricter than its headers ({what})", stricter.lost),
        count_429("stricter", "server stricter than its headers", stricter, len(rows)),
    ]
    dropping = import_over_loopback(
        sandbox(len(rows), limits,
                FaultPlan(limit_drops_to=p.drops_to, limit_drops_after=p.drops_after)),
        rows, work, "rate-drops", max_requests=p.burst, window=p.window,
        concurrency=p.concurrency,
    )  # fmt: skip
    what = f"{p.burst} -> {p.drops_to} per window after {p.drops_after} requests"
    figures += [
        lost_figure("drops", f"limit drops mid-run ({what})", dropping.lost),
        count_429("drops", "limit drops mid-run", dropping, len(rows)),
    ]
    return figures


def real_window(p: Params, work: Path) -> list[Figure]:
    """The API's own window, 100 per 10 s, with a real round trip: the target's setting."""
    burst, window = 100, 10.0
    rows = pairs(p.real_rows)
    faults = FaultPlan(latency=p.real_latency, latency_jitter=p.real_jitter)
    trial = import_over_loopback(
        sandbox(len(rows), Limits(burst=burst, interval=window, daily=10**9), faults),
        rows, work, "rate-real", max_requests=burst, window=window, concurrency=p.concurrency,
    )  # fmt: skip
    allowed = burst / window
    ratio = trial.stats.accepted / trial.child.wall / allowed
    trip = f"{p.real_latency * 1000:.0f}-{(p.real_latency + p.real_jitter) * 1000:.0f} ms"
    return [
        Figure(
            "rate.real.ratio",
            f"Rate fidelity at the real window (100 per 10 s, {trip}): achieved / allowed",
            round(ratio, 3),
            f"{ratio:.3f}",
            ">= 0.97",
            ratio >= 0.97,
            f"{len(rows)} rows, {trial.stats.accepted} requests in {trial.child.wall:.1f} s of "
            "the whole command (start-up included; the first window's burst of 100 included)",
        ),
        *within_limits(
            "real", "Rate fidelity at the real window", "at the real window", trial, burst
        ),
    ]


def within_limits(key: str, title: str, what: str, trial: Trial, burst: int) -> list[Figure]:
    """A trial the server's limits should never refuse: its 429s (none), the most requests in
    any window (the burst at most) and the rows lost (none)."""
    refused, most = trial.stats.rate_limited, trial.stats.max_in_window
    return [
        Figure(
            f"rate.{key}.rate_limited", f"{title}: 429s", refused, str(refused), "0", not refused
        ),
        Figure(
            f"rate.{key}.max_in_window",
            f"{title}: most requests in any window",
            most,
            str(most),
            f"<= {burst}",
            most <= burst,
        ),
        lost_figure(key, what, trial.lost),
    ]


def lost_figure(key: str, what: str, lost: int) -> Figure:
    return Figure(f"rate.{key}.rows_lost", f"Rows lost, {what}", lost, str(lost), "0", lost == 0)


def count_429(key: str, what: str, trial: Trial, rows: int) -> Figure:
    n = trial.stats.rate_limited
    return Figure(
        f"rate.{key}.rate_limited",
        f"429s, {what}",
        n,
        str(n),
        "few (no target)",
        None,
        f"{rows} rows, {trial.child.wall:.1f} s",
    )
