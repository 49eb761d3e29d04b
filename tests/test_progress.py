"""Progress in every phase: reading, look-ups and record checks with their own count, sending;
the summary's rate over the rows processed."""

from __future__ import annotations

from pathlib import Path

from importer.cli import format_summary
from importer.models import Status
from importer.report import Hooks, RunSummary
from importer.run import run_import
from importer.sandbox import Sandbox
from tests.conftest import SAMPLES, demo_settings


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
