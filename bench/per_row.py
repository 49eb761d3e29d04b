"""Family 2, requests per row: one request per settled row on a clean file, none on a re-run
of a finished one (it resumes from the journal beside the result file)."""

from __future__ import annotations

from pathlib import Path

from bench.figures import Figure
from bench.params import Params
from bench.workload import pairs, relimport, run_child, sandbox, write_config, write_pairs
from importer.sandbox import DEMO_LOCATION, Limits, serve


def measure(p: Params, work: Path) -> list[Figure]:
    rows = pairs(p.per_row_rows)
    box = sandbox(len(rows), Limits(burst=p.burst, interval=p.window, daily=10**9))
    source = write_pairs(work / "per-row.csv", rows)
    config = write_config(work / "per-row.yaml", max_requests=p.burst, window=p.window)
    out = work / "per-row-results.csv"
    with serve(box) as server:  # the same URL twice: a run on the in-process sandbox never resumes
        command = relimport("run", source, config, server.url, out)
        first = run_child(command, work)
        clean = box.stats(DEMO_LOCATION)
        second = run_child(command, work)
        again = box.stats(DEMO_LOCATION).requests - clean.requests
    for child in (first, second):
        if child.returncode != 0:
            raise RuntimeError(f"relimport run exited {child.returncode}: {child.stderr}")
    creates = clean.by_route.get("POST /associations/relations", 0)
    per_row = clean.requests / len(rows)
    others = clean.requests - creates
    return [
        Figure(
            "per_row.clean",
            "API requests per settled row, clean file",
            round(per_row, 4),
            f"{per_row:.3f}",
            "1.00 (+1 association look-up per run)",
            creates == len(rows) and others <= 1,
            f"{len(rows)} rows: {creates} creates + {others} look-up",
        ),
        Figure(
            "per_row.rerun",
            "API requests on a re-run of the finished file",
            again,
            str(again),
            "0",
            again == 0,
        ),
    ]
