"""Files and words: plurals, a plan that does not fit today, what a scheduler can tell."""

from __future__ import annotations

from pathlib import Path

from importer.i18n import translate
from importer.report import LocationPlan, Plan
from importer.run import run_import
from importer.sandbox import Limits, Sandbox
from tests.conftest import SAMPLES, demo_settings, read_results
from tests.helpers import invoke


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


def test_a_dry_run_that_does_not_fit_in_todays_budget_exits_7(tmp_path: Path) -> None:
    sandbox = Sandbox(limits=Limits(daily=15))
    summary = run_import(
        SAMPLES / "relations.csv",
        demo_settings(tmp_path),
        dry_run=True,
        transport=sandbox.transport(),
    )
    assert summary.exit_code == 7
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


def test_the_rows_of_a_location_the_token_may_not_access_are_not_sent(in_repo: Path) -> None:
    (in_repo / "mixed.csv").write_text(
        "Student ID,Teacher ID,Location\n"
        "67a349a79b28947ec1f60001,cTeacher000000000002,ldwDemoLocation00001\n"
        "67a349a79b28947ec1f60003,cTeacher000000000004,ldwUnknownLocation99\n"
    )
    code, out, err = invoke("run", "mixed.csv", "--location-column", "Location")
    assert code == 1
    assert err == (
        "mixed.csv: the token may not access location ldwUnknownLocation99 (403): its rows are "
        "not sent (not_sent, location_refused); the others go on.\n"
    )
    assert out.startswith(
        "Import of mixed.csv (1 association in 2 locations): 2 rows\n"
        "  created                1\n"
        "  not_sent               1\n"
    )
    rows = read_results(in_repo / "results/mixed-results.csv")
    assert [(r["row"], r["status"], r["error_code"], r["error"]) for r in rows] == [
        ("2", "created", "", ""),
        (
            "3",
            "not_sent",
            "location_refused",
            "the token may not access location ldwUnknownLocation99 (column 'Location'): not "
            "sent; fix the location, or give that location its token (token_env_by_location), "
            "and run the same command again",
        ),
    ]


def test_every_missing_setting_is_named_at_once(in_repo: Path) -> None:
    (in_repo / "bare.yaml").write_text("location_id: ldwDemoLocation00001\n")
    code, _, err = invoke("run", "samples/relations.csv", "--config", "bare.yaml")
    assert (code, err) == (
        2,
        "Error: Missing settings: association, first_column, second_column. Set them in "
        "config.yaml or pass --association, --first-column, --second-column.\n",
    )
