"""Files and words: plurals, a plan that does not fit today, what a scheduler can tell."""

from __future__ import annotations

from pathlib import Path

from importer.i18n import translate
from importer.pipeline import run_import
from importer.plan import LocationPlan, Plan
from importer.sandbox import Limits, Sandbox
from tests.conftest import SAMPLES, demo_settings
from tests.test_cli import in_repo, invoke

__all__ = ["in_repo"]  # a fixture of test_cli's, used here


def _plan(requests: int, remaining: int) -> Plan:
    location = LocationPlan("loc1", {"creates": requests}, remaining, 200_000, 0, 10.0)
    return Plan(rows={"valid": requests}, locations=(location,), spent_now={}, reuse_hours=0)


def test_one_request_is_singular_in_english_and_spanish() -> None:
    lines = _plan(1, 1).lines()
    assert lines == [
        "Plan: the real run needs 1 request (1 create).",
        "  loc1: 1 request, about 1 s at 10 requests/s; fits in today's budget (1 request left).",
    ]
    assert translate("\n".join(lines), "es").split("\n") == [
        "Plan: la ejecución real necesita 1 solicitud (1 creación).",
        "  loc1: 1 solicitud, en alrededor de 1 s a 10 solicitudes/s; cabe en el presupuesto de "
        "hoy (quedan 1 solicitud).",
    ]


def test_a_plan_over_one_day_says_how_many_days() -> None:
    assert _plan(200_005, 10).lines()[1] == (
        "  loc1: 200005 requests, about 5.6 h at 10 requests/s; does not fit in today's "
        "budget (10 left): about 2 days."
    )


def test_a_dry_run_that_does_not_fit_in_todays_budget_exits_6(tmp_path: Path) -> None:
    sandbox = Sandbox(limits=Limits(daily=15))
    summary = run_import(
        SAMPLES / "relations.csv",
        demo_settings(tmp_path),
        dry_run=True,
        transport=sandbox.transport(),
    )
    assert summary.exit_code == 6
    assert summary.as_json()["outcome"] == "over_budget"
    assert summary.plan is not None
    assert "does not fit in today's budget" in summary.plan.lines()[1]
    fits = run_import(
        SAMPLES / "relations.csv",
        demo_settings(tmp_path, out=tmp_path / "fits.csv"),
        dry_run=True,
        transport=Sandbox().transport(),
    )
    assert fits.exit_code == 0


def test_a_dry_run_replaces_its_own_file_and_names_never_chain(in_repo: Path) -> None:
    for _ in range(3):
        assert invoke("validate", "samples/relations.csv", "--quiet")[0] == 0
    names = sorted(path.name for path in (in_repo / "results").iterdir())
    assert names == [
        "relations-dry-run.csv",
        "relations-dry-run.plan.json",
        "relations-dry-run.summary.json",
    ]
    invoke("run", "samples/relations-with-problems.csv", "--quiet")
    again = ("run", "results/relations-with-problems-results.csv", "--only", "failed")
    invoke(*again, "--quiet")
    invoke("validate", *again[1:], "--quiet")
    made = sorted(path.name for path in (in_repo / "results").glob("relations-with-*.csv"))
    assert made == [
        "relations-with-problems-dry-run.csv",
        "relations-with-problems-results-2.csv",
        "relations-with-problems-results.csv",
    ]
