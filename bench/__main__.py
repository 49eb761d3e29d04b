"""``python -m bench [--smoke] [--quick] [--only FAMILY] [--out DIR]``: run the suite, print
the table and write ``results.md`` and ``results.json`` (default ``bench/out/``)."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench import files, locations, nightly, overhead, per_row, rate
from bench.figures import Figure, write
from bench.params import FULL, SMOKE, Params

Measure = Callable[[Params, Path, list[str]], list[Figure]]
MEASURES: dict[str, Measure] = {
    "rate": lambda p, work, skipped: rate.measure(p, work),
    "per_row": lambda p, work, skipped: per_row.measure(p, work),
    "overhead": lambda p, work, skipped: overhead.measure(p, work),
    "locations": lambda p, work, skipped: locations.measure(p, work),
    "files": files.measure,
    "nightly": lambda p, work, skipped: nightly.measure(p, work),
}
FAMILIES = tuple(MEASURES)
OUT = Path(__file__).resolve().parent / "out"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--smoke", action="store_true", help="a tiny run (seconds), for CI")
    parser.add_argument("--quick", action="store_true", help="skip the 1M-row XLSX")
    parser.add_argument("--only", choices=FAMILIES, action="append", help="run these families")
    parser.add_argument("--out", type=Path, default=OUT, help="folder of the results")
    args = parser.parse_args(argv)
    p = SMOKE if args.smoke else FULL
    if args.quick:
        p = dataclasses.replace(p, skip_big_xlsx=True)
    skipped: list[str] = []
    with tempfile.TemporaryDirectory(prefix="relimport-bench-") as tmp:

        def family(name: str) -> list[Figure]:
            work = Path(tmp) / name
            work.mkdir()
            start = time.perf_counter()
            print(f"{name}...", file=sys.stderr, flush=True)
            figures = MEASURES[name](p, work, skipped)
            print(f"{name}: {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
            return figures

        # The smoke run's figures mean nothing: its families run side by side to stay short.
        with ThreadPoolExecutor(max_workers=len(FAMILIES) if args.smoke else 1) as pool:
            figures = [f for found in pool.map(family, args.only or FAMILIES) for f in found]
    notes = [
        "All against the sandbox served on 127.0.0.1 (files: the in-process sandbox); every "
        "program is timed as a whole command in a fresh process, start-up included.",
        f"Time compressed: the sandbox allows {p.burst} requests per {p.window:g} s "
        f"({p.burst / p.window:g}/s; the API: 100 per 10 s, 10/s) and relimport's rate_limit "
        f"is set to the same, max_requests "
        f"{p.burst}, window_seconds {p.window:g}. Unthrottled = a burst limit of 10^9.",
        f"Concurrency {p.concurrency} for relimport and the httpx loop; the SDK loops are "
        f"sequential, both in one process whose start-up (over a second to import the SDK) "
        f"is not counted; SDK + retry backs off from {p.window / 10:g} s, doubling, 8 attempts.",
    ]
    notes += [f"Skipped: {what}." for what in skipped]
    if args.smoke:
        notes.append("Smoke run: tiny sizes, the figures mean nothing.")
    params = {**dataclasses.asdict(p), "smoke": args.smoke, "families": args.only or FAMILIES}
    md, js = write(figures, params, notes, args.out)
    print(md.read_text(encoding="utf-8"))
    print(f"Wrote {md} and {js}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
