"""What every family needs: an input of distinct valid pairs, a sandbox holding their records,
a config for relimport, and a child process timed with its own CPU time and peak memory."""

from __future__ import annotations

import compileall
import csv
import functools
import math
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from importer.sandbox import (
    DEMO_LOCATION,
    DEMO_TOKEN,
    STUDENT_TEACHER_ID,
    FaultPlan,
    Limits,
    LocationStats,
    Sandbox,
    demo_seed,
    serve,
    student_id,
    teacher_id,
)

REPO = Path(__file__).resolve().parents[1]  # so that children find ``bench`` from any folder
TEACHERS = 50
HEADER = ("Student ID", "Teacher ID")
Pair = tuple[str, str]


def pairs(n: int) -> list[Pair]:
    """``n`` distinct (student, teacher) pairs of the demo scheme, none related yet."""
    return [(student_id(i // TEACHERS + 1), teacher_id(i % TEACHERS + 1)) for i in range(n)]


def sandbox(rows: int, limits: Limits, faults: FaultPlan | None = None) -> Sandbox:
    """A sandbox whose demo location holds every record of ``pairs(rows)`` and no relation."""
    students = math.ceil(rows / TEACHERS) + 1
    seed = demo_seed(students=students, teachers=TEACHERS, relations=False)
    return Sandbox(seed, limits=limits, faults=faults)


def unthrottled() -> Limits:
    return Limits(burst=10**9, interval=1.0, daily=10**9)


def write_pairs(path: Path, rows: list[Pair]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def write_config(path: Path, *, max_requests: int, window: float, concurrency: int = 8) -> Path:
    """relimport's config.yaml with its rate limit set to the sandbox's (time compressed)."""
    path.write_text(
        f"location_id: {DEMO_LOCATION}\n"
        "association: student_teacher\n"
        f"first_column: {HEADER[0]}\n"
        f"second_column: {HEADER[1]}\n"
        f"concurrency: {concurrency}\n"
        "rate_limit:\n"
        f"  max_requests: {max_requests}\n"
        f"  window_seconds: {window}\n"
        f"  daily_limit: {10**9}\n"
        "retry:\n"
        "  backoff_initial: 0.05\n"
        "  backoff_max: 2\n",
        encoding="utf-8",
    )
    return path


@dataclass(frozen=True)
class Child:
    """One finished child process: wall seconds, CPU seconds (user + system), peak RSS."""

    returncode: int
    wall: float
    cpu: float
    max_rss_mb: float
    stdout: str
    stderr: str


@functools.cache
def compile_repo() -> None:
    """Write the bytecode of relimport and of the bench's own programs, once: an installed
    relimport has it (pip compiles what it installs), as the httpx and SDK loops' libraries do.
    Without it, where ``PYTHONDONTWRITEBYTECODE`` is set, every child would compile ~70 modules
    from source at start-up (~0.1 s): a cost no user pays and the other contenders do not."""
    for folder in ("importer", "bench"):
        compileall.compile_dir(REPO / folder, quiet=1)


def run_child(args: list[str], cwd: Path, *, env: dict[str, str] | None = None) -> Child:
    """Run ``args`` in a fresh process and measure it with ``wait4`` (its own rusage only),
    with relimport's bytecode written (:func:`compile_repo`) before the clock starts."""
    compile_repo()
    out, err = cwd / ".child-stdout", cwd / ".child-stderr"
    environ = {**os.environ, "LEADWAY_TOKEN": DEMO_TOKEN, "PYTHONPATH": str(REPO), **(env or {})}
    with out.open("wb") as o, err.open("wb") as e:
        start = time.perf_counter()
        process = subprocess.Popen(args, cwd=cwd, env=environ, stdout=o, stderr=e)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    return Child(
        returncode=process.returncode,
        wall=wall,
        cpu=usage.ru_utime + usage.ru_stime,
        max_rss_mb=usage.ru_maxrss / 1024,
        stdout=out.read_text(encoding="utf-8", errors="replace"),
        stderr=err.read_text(encoding="utf-8", errors="replace"),
    )


def relimport(command: str, source: Path, config: Path, url: str, out: Path) -> list[str]:
    """The command line a user types (``python -m importer`` = ``relimport``)."""
    return [
        sys.executable,
        "-m",
        "importer",
        command,
        str(source),
        "--config",
        str(config),
        "--base-url",
        url,
        "--out",
        str(out),
        "--quiet",
    ]


def rows_lost(result: Path, rows: list[Pair], box: Sandbox) -> int:
    """Input rows not in the result file exactly once as created/already_exists, or whose pair
    is not on the server: 0 when nothing was lost."""
    with result.open(encoding="utf-8-sig", newline="") as f:
        settled = Counter(
            int(r["row"]) for r in csv.DictReader(f) if r["status"] in ("created", "already_exists")
        )
    return sum(
        settled[i + 2] != 1 or not box.has_relation(DEMO_LOCATION, STUDENT_TEACHER_ID, a, b)
        for i, (a, b) in enumerate(rows)
    )


@dataclass(frozen=True)
class Trial:
    """One ``relimport run`` over loopback: the child, what the server saw, rows lost."""

    child: Child
    stats: LocationStats
    lost: int


def import_over_loopback(
    box: Sandbox,
    rows: list[Pair],
    work: Path,
    name: str,
    *,
    max_requests: int,
    window: float,
    concurrency: int = 8,
) -> Trial:
    """Serve ``box`` on 127.0.0.1 and run ``relimport run`` on ``rows`` against it."""
    source = write_pairs(work / f"{name}.csv", rows)
    config = write_config(
        work / f"{name}.yaml", max_requests=max_requests, window=window, concurrency=concurrency
    )
    out = work / f"{name}-results.csv"
    with serve(box) as server:
        child = run_child(relimport("run", source, config, server.url, out), work)
    if child.returncode not in (0, 1):
        raise RuntimeError(f"relimport run exited {child.returncode}: {child.stderr}")
    return Trial(child, box.stats(DEMO_LOCATION), rows_lost(out, rows, box))
