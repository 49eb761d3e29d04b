"""Family 5, many locations in one process: does each location run at its own full rate?

One input spanning N locations (location_column), sorted by location (the hard case for a
shared queue), against the sandbox on loopback where every location allows its own burst per
window. Printed: achieved / allowed in total and for the slowest and the median location.
"""

from __future__ import annotations

import csv
import os
import statistics
from pathlib import Path

from bench.figures import Figure
from bench.params import Params
from bench.workload import relimport, run_child
from importer.sandbox import Limits, Sandbox, serve
from importer.sandbox.seed import (
    OPPORTUNITIES_CONTACTS,
    contact_id,
    deal_id,
    location_id,
    location_token,
    locations_seed,
)


def trial(p: Params, work: Path, locations: int) -> list[Figure]:
    rows = p.location_rows
    folder = work / f"n{locations}"
    folder.mkdir()
    source = folder / "in.csv"
    with source.open("w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["Location", "Opportunity", "Contact"])
        for n in range(locations):  # sorted by location
            writer.writerows([location_id(n), deal_id(n, i), contact_id(n, i)] for i in range(rows))
    config = folder / "config.yaml"
    config.write_text(
        f"association: {OPPORTUNITIES_CONTACTS}\n"
        "first_column: Opportunity\n"
        "second_column: Contact\n"
        "location_column: Location\n"
        f"concurrency: {p.concurrency}\n"
        f"rate_limit: {{max_requests: {p.location_burst}, window_seconds: {p.location_window}, "
        "daily_limit: 1000000000}\n"
        "token_env_by_location:\n"
        + "".join(f"  {location_id(n)}: BENCH_TOKEN_{n}\n" for n in range(locations))
    )
    box = Sandbox(
        locations_seed(dict.fromkeys(range(locations), rows)),
        limits=Limits(burst=p.location_burst, interval=p.location_window, daily=10**9),
    )
    env = {f"BENCH_TOKEN_{n}": location_token(n) for n in range(locations)}
    with serve(box) as server:
        child = run_child(
            relimport("run", source, config, server.url, folder / "out.csv"),
            folder,
            env={**env, "PATH": os.environ.get("PATH", "")},
        )
    if child.returncode not in (0, 1):
        raise RuntimeError(f"relimport run exited {child.returncode}: {child.stderr[-2000:]}")
    allowed = p.location_burst / p.location_window
    each = [box.stats(location_id(n)).accepted / child.wall / allowed for n in range(locations)]
    total = sum(box.stats(location_id(n)).accepted for n in range(locations)) / child.wall
    limited = sum(box.stats(location_id(n)).rate_limited for n in range(locations))
    ratio = total / (allowed * locations)
    return [
        Figure(
            f"locations.{locations}.ratio",
            f"{locations} locations in one process: achieved / allowed, in total",
            round(ratio, 3),
            f"{ratio:.3f}",
            ">= 0.9 (until the CPU is the limit)",
            ratio >= 0.9,
            note=f"{total:.0f} of {allowed * locations:g} requests/s; {rows} rows per location, "
            f"sorted by location; {child.wall:.1f} s and {child.cpu:.1f} CPU-s for the whole "
            f"command, start-up included; {limited} 429s",
        ),
        Figure(
            f"locations.{locations}.per_location",
            f"{locations} locations in one process: achieved / allowed per location, "
            "slowest and median",
            round(min(each), 3),
            f"{min(each):.3f} / {statistics.median(each):.3f}",
        ),
    ]


def measure(p: Params, work: Path) -> list[Figure]:
    return [figure for n in p.location_counts for figure in trial(p, work, n)]
