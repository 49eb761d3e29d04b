"""Family 5, nightly: a cumulative export imported every night, as the README's recipe does.

Night 1 imports N pairs; night 2 the same N and k new ones, with a new result file. Night 2's
requests with the ledger (the default), without it, and without it but with --skip-existing,
beside the ideal (one create per new pair and the association) and the ledger's target:
k + ceil(distinct records on the smaller side / ledger_verify_days) + 2. Each way has its own
sandbox on 127.0.0.1 and its own state folder; the server is unthrottled (requests, not time,
are measured here).
"""

from __future__ import annotations

import math
from pathlib import Path

from bench.figures import Figure
from bench.params import Params
from bench.workload import relimport, run_child, unthrottled, write_config, write_pairs
from importer.sandbox import DEMO_LOCATION, Sandbox, demo_seed, serve, student_id, teacher_id

PER_STUDENT = 5  # teachers per student: each teacher has N / TEACHERS students (< one page)
VERIFY_DAYS = 7  # the default ledger_verify_days
WAYS = {
    "ledger": [],
    "no_ledger": ["--no-ledger"],
    "skip_existing": ["--no-ledger", "--skip-existing"],
}


def export(students: int, teachers: int) -> list[tuple[str, str]]:
    """Each student with PER_STUDENT distinct teachers, spread evenly."""
    step = teachers // PER_STUDENT
    return [
        (student_id(s), teacher_id((s + j * step) % teachers + 1))
        for s in range(1, students + 1)
        for j in range(PER_STUDENT)
    ]


def nights(p: Params, work: Path, way: str) -> tuple[int, float, int, float]:
    """(night 1 requests, seconds; night 2 requests, seconds) of one way."""
    students, teachers = p.nightly_rows // PER_STUDENT, p.nightly_teachers
    new = p.nightly_new // PER_STUDENT
    folder = work / way
    folder.mkdir()
    config = write_config(folder / "config.yaml", max_requests=10**6, window=1.0)
    box = Sandbox(
        demo_seed(students=students + new, teachers=teachers, relations=False),
        limits=unthrottled(),
    )
    spent: list[tuple[int, float]] = []
    with serve(box) as server:
        for number, count in ((1, students), (2, students + new)):
            source = write_pairs(folder / f"export-{number}.csv", export(count, teachers))
            before = box.stats(DEMO_LOCATION).requests
            command = relimport("run", source, config, server.url, folder / f"night-{number}.csv")
            child = run_child(command + WAYS[way], folder)
            if child.returncode != 0:
                raise RuntimeError(f"relimport run exited {child.returncode}: {child.stderr}")
            spent.append((box.stats(DEMO_LOCATION).requests - before, child.wall))
    (first, first_wall), (second, second_wall) = spent
    return first, first_wall, second, second_wall


def measure(p: Params, work: Path) -> list[Figure]:
    k = p.nightly_new
    ideal = k + 1
    target = k + math.ceil(p.nightly_teachers / VERIFY_DAYS) + 2
    found = {way: nights(p, work, way) for way in WAYS}
    size = f"N = {p.nightly_rows}, k = {k}, {p.nightly_teachers} teachers"
    figures = [
        Figure(
            f"nightly.{way}.night2_requests",
            f"Nightly night 2 requests, {way.replace('_', ' ')}",
            found[way][2],
            str(found[way][2]),
            f"≤ {target} (ideal {ideal})" if way == "ledger" else f"ideal {ideal}",
            found[way][2] <= target if way == "ledger" else None,
            size,
        )
        for way in WAYS
    ]
    figures += [
        Figure(
            f"nightly.{way}.night1_seconds",
            f"Nightly night 1 time, {way.replace('_', ' ')} (unthrottled server)",
            round(found[way][1], 2),
            f"{found[way][1]:.1f} s",
            note=f"{found[way][0]} requests",
        )
        for way in ("ledger", "no_ledger")
    ]
    return figures
