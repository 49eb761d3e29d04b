"""Progress in every phase: reading, look-ups and record checks with their own count, sending;
the summary's rate over the rows processed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from openpyxl import Workbook

from importer.cli import format_summary
from importer.models import Status
from importer.report import Hooks, RunSummary
from importer.run import run_import
from importer.sandbox import Sandbox, teacher_id
from tests.conftest import SAMPLES, demo_settings, write_csv


def test_each_phase_reports_its_own_count(tmp_path: Path) -> None:
    phases: list[list[object]] = []  # [name, total, steps done]

    def phase(name: str, total: int | None) -> None:
        phases.append([name, total, 0])

    def progress(n: int) -> None:
        phases[-1][2] += n  # type: ignore[operator]

    def total(n: int) -> None:
        phase("sending", n)

    hooks = Hooks(on_phase=phase, on_progress=progress, on_total=total, on_row=lambda _: None)
    run_import(
        SAMPLES / "relations.csv",
        demo_settings(tmp_path, check_records=True),
        transport=Sandbox().transport(),
        hooks=hooks,
    )
    students = len({f"67a349a79b28947ec1f600{n:02}" for n in range(1, 13)})
    teachers = 8
    assert phases == [
        ["reading", None, 20],  # the survey
        ["sending", 20, 0],  # the rows to send are known; checks come first
        ["reading", None, 20],  # the rows read for their questions
        ["record checks", students + teachers, students + teachers],
        ["writing results", None, 20],  # the result file, from the journal
    ]


def test_the_rate_counts_the_rows_processed() -> None:
    summary = RunSummary(
        title="Import of in.csv",
        input_path=Path("in.csv"),
        result_path=Path("results/in-results.csv"),
        counts={Status.CREATED: 10, Status.NOT_SENT: 6},
        requests=4,
        rate_limited=0,
        elapsed=2.0,
        dry_run=False,
        resumed=6,
        outside=6,
    )
    assert "Time: 2.0 s, 2.0 rows/s." in format_summary(summary)  # 4 rows in 2 s


def _open_files() -> set[Path]:
    """The files this process has open now (Linux)."""
    found = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            found.add(Path(os.readlink(fd)))
        except OSError:  # closed meanwhile
            continue
    return found


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc (Linux)")
@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_reading_begins_before_the_file_is_opened(tmp_path: Path, suffix: str) -> None:
    """Opening a large workbook takes seconds: each phase that reads it is shown from the
    start (the survey's, the second reading's for the look-ups, the result file's)."""
    rows = [["Student email", "Teacher ID"], ["ana.ruiz@example.edu", teacher_id(1)]]
    path = tmp_path / f"in{suffix}"
    if suffix == ".xlsx":
        book = Workbook()
        for row in rows:
            book.active.append(row)  # type: ignore[union-attr]
        book.save(path)
    else:
        write_csv(path, rows)
    seen: list[tuple[str, bool]] = []

    def phase(name: str, total: int | None) -> None:
        seen.append((name, path.resolve() in _open_files()))

    settings = demo_settings(tmp_path, first_column="Student email", first_lookup="student_email")
    run_import(path, settings, transport=Sandbox().transport(), hooks=Hooks(on_phase=phase))
    # and the result file's writing, from the journal and the input read again
    assert seen == [
        ("reading", False),
        ("reading", False),
        ("look-ups", False),
        ("writing results", False),
    ]
