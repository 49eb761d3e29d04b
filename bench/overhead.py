"""Family 3, overhead side by side: relimport against a bare httpx loop and the official SDK,
on an unthrottled server at 0 ms and at injected latency; then the SDK under the limit."""

from __future__ import annotations

import json
import sys
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from bench.figures import Figure
from bench.params import Params
from bench.workload import import_over_loopback, pairs, run_child, sandbox, unthrottled, write_pairs
from importer.sandbox import DEMO_LOCATION, STUDENT_TEACHER_ID, FaultPlan, Limits, Sandbox, serve

SDKS = ("SDK plain", "SDK + retry")


def slug(name: str) -> str:
    """``SDK + retry`` -> ``sdk_retry``: the contender's name in results.json keys."""
    return "_".join(name.lower().replace("+", " ").split())


@dataclass(frozen=True)
class Run:
    rows: int
    created: int
    wall: float
    cpu: float

    @property
    def rate(self) -> float:
        return self.rows / self.wall

    @property
    def cpu_per_1000(self) -> float:
        return self.cpu / self.rows * 1000


def run_relimport(box: Sandbox, n: int, p: Params, work: Path, tag: str) -> Run:
    big = 10**9 if box.limits.burst >= 10**9 else p.burst
    trial = import_over_loopback(
        box, pairs(n), work, f"relimport-{tag}", max_requests=big, window=p.window,
        concurrency=p.concurrency,
    )  # fmt: skip
    return Run(n, n - trial.lost, trial.child.wall, trial.child.cpu)


def run_httpx(box: Sandbox, n: int, p: Params, work: Path, tag: str) -> Run:
    source = write_pairs(work / f"httpx-{tag}.csv", pairs(n))
    with serve(box) as server:
        args = ["-m", "bench.httpx_loop", server.url, str(source), str(p.concurrency),
                DEMO_LOCATION, STUDENT_TEACHER_ID]  # fmt: skip
        child = run_child([sys.executable, *args], work)
    if child.returncode != 0:
        raise RuntimeError(f"the httpx loop exited {child.returncode}: {child.stderr[-2000:]}")
    counts = json.loads(child.stdout.strip().splitlines()[-1])
    return Run(n, int(counts.get("created", 0)), child.wall, child.cpu)


def run_sdks(boxes: list[Sandbox], n: int, p: Params, work: Path, tag: str) -> list[Run]:
    """The plain and the retrying SDK loop, one sandbox each, in one child process."""
    source = write_pairs(work / f"sdk-{tag}.csv", pairs(n))
    with ExitStack() as stack:
        servers = [stack.enter_context(serve(box)) for box in boxes]
        jobs = [
            {"url": s.url, "path": str(source), "retry": "retry" in name, "backoff": p.window / 10}
            for s, name in zip(servers, SDKS, strict=True)
        ]
        (work / "jobs.json").write_text(json.dumps(jobs), encoding="utf-8")
        child = run_child([sys.executable, "-m", "bench.sdk_loop", "jobs.json"], work)
    if child.returncode != 0:
        raise RuntimeError(f"the SDK loop exited {child.returncode}: {child.stderr[-2000:]}")
    done = json.loads(child.stdout.strip().splitlines()[-1])
    return [Run(n, int(d["counts"].get("created", 0)), d["wall"], d["cpu"]) for d in done]


def measure(p: Params, work: Path) -> list[Figure]:
    figures: list[Figure] = []
    for latency in (0.0, p.latency):
        ms = f"{latency * 1000:.0f} ms"
        key = "0ms" if latency == 0 else "latency"

        def box(n: int, latency: float = latency) -> Sandbox:
            return sandbox(n, unthrottled(), FaultPlan(latency=latency))

        n, n_sdk = (p.fast_rows, p.fast_rows) if latency == 0 else (p.slow_rows, p.sdk_slow_rows)
        runs = {
            "relimport": run_relimport(box(n), n, p, work, key),
            "httpx loop": run_httpx(box(n), n, p, work, key),
        }
        runs.update(zip(SDKS, run_sdks([box(n_sdk), box(n_sdk)], n_sdk, p, work, key), strict=True))
        for name, run in runs.items():
            how = "in-process, SDK import not counted" if "SDK" in name else "whole command"
            figures.append(
                Figure(
                    f"overhead.{key}.{slug(name)}.rows_per_s",
                    f"Unthrottled, {ms}: {name} rows/s",
                    round(run.rate, 1),
                    f"{run.rate:.1f}",
                    note=f"{run.rows} rows, {run.created} created, {how}",
                )
            )
        ratio = runs["relimport"].rate / runs["httpx loop"].rate
        figures.append(
            Figure(
                f"overhead.{key}.ratio_httpx",
                f"Unthrottled, {ms}: relimport / httpx loop throughput",
                round(ratio, 3),
                f"{ratio:.2f}",
                ">= 0.8",
                ratio >= 0.8,
            )
        )
        for sdk in SDKS:
            ratio = runs["relimport"].rate / runs[sdk].rate
            figures.append(
                Figure(
                    f"overhead.{key}.ratio_{sdk.split()[-1]}",
                    f"Unthrottled, {ms}: relimport / {sdk} throughput",
                    round(ratio, 2),
                    f"{ratio:.1f}x",
                )
            )
        if latency == 0:
            for name, run in runs.items():
                figures.append(
                    Figure(
                        f"overhead.cpu_per_1000.{slug(name)}",
                        f"CPU seconds per 1,000 rows: {name}",
                        round(run.cpu_per_1000, 3),
                        f"{run.cpu_per_1000:.2f}",
                        "<= 1.5" if name == "relimport" else "",
                        run.cpu_per_1000 <= 1.5 if name == "relimport" else None,
                        note="0 ms; " + ("SDK import not counted" if "SDK" in name else
                                         "the whole child process, start-up included"),
                    )
                )  # fmt: skip
    return figures + limited(p, work)


def limited(p: Params, work: Path) -> list[Figure]:
    """Under the honest (compressed) limit: rows created by each contender."""
    n = p.sdk_limited_rows

    def box() -> Sandbox:
        return sandbox(n, Limits(burst=p.burst, interval=p.window, daily=10**9))

    boxes = {name: box() for name in ("relimport", *SDKS)}
    runs = {"relimport": run_relimport(boxes["relimport"], n, p, work, "limited")}
    runs.update(zip(SDKS, run_sdks([boxes[s] for s in SDKS], n, p, work, "limited"), strict=True))
    figures = []
    for name, run in runs.items():
        stats = boxes[name].stats(DEMO_LOCATION)
        target, met = ("all", run.created == n) if name != "SDK plain" else ("", None)
        figures.append(
            Figure(
                f"limited.{slug(name)}.created",
                f"Under the limit: rows created by {name}",
                run.created,
                f"{run.created} / {n}",
                target,
                met,
                f"{stats.rate_limited} 429s, {run.wall:.1f} s",
            )
        )
    return figures
