"""Undo: the server back to exactly its state before the import."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from importer.errors import InputError
from importer.models import Status
from importer.report import RESULT_COLUMNS
from importer.run import run_import, run_undo
from importer.sandbox import DEMO_LOCATION, FaultPlan, Limits, Sandbox
from tests.conftest import SAMPLES, demo_settings, read_results


def state(sandbox: Sandbox) -> set[tuple[str, str, str]]:
    return {
        (r["id"], r["firstRecordId"], r["secondRecordId"]) for r in sandbox.relations(DEMO_LOCATION)
    }


@pytest.mark.parametrize("faults", [FaultPlan(), FaultPlan(drop_after_write_every=3, fail_every=4)])
def test_undo_removes_exactly_what_the_import_created(tmp_path: Path, faults: FaultPlan) -> None:
    sandbox = Sandbox(limits=Limits(burst=100, interval=0.2), faults=faults)
    before = state(sandbox)
    settings = demo_settings(
        tmp_path,
        rate_limit={"max_requests": 100, "window_seconds": 0.2},
        retry={"backoff_initial": 0.01, "backoff_max": 0.02},
    )
    imported = run_import(
        SAMPLES / "relations-with-problems.csv", settings, transport=sandbox.transport()
    )
    assert len(state(sandbox)) == len(before) + imported.counts[Status.CREATED]
    undo_settings = settings.model_copy(update={"out": tmp_path / "undo.csv"})
    undone = run_undo(imported.result_path, undo_settings, transport=sandbox.transport())
    assert state(sandbox) == before  # the seeded relation of row 3 is still there
    assert undone.exit_code == 0
    rows = read_results(undone.result_path)
    assert [r["row"] for r in rows] == [str(n) for n in range(2, 13)]
    assert Counter(r["status"] for r in rows) == {"deleted": 2, "skipped": 9}  # the undo's own
    assert list(rows[0]) == ["Student ID", "Teacher ID", "Student name", "Note", *RESULT_COLUMNS]
    imported_rows = read_results(imported.result_path)
    assert {r["relation_id"] for r in rows if r["status"] == "deleted"} == {
        r["relation_id"] for r in imported_rows if r["status"] == "created"
    }
    again = run_undo(imported.result_path, undo_settings, transport=sandbox.transport())
    assert (again.requests, again.resumed) == (0, 11)  # a finished undo costs nothing again


def test_a_dry_run_of_the_undo_lists_and_deletes_nothing(tmp_path: Path) -> None:
    sandbox = Sandbox()
    imported = run_import(
        SAMPLES / "relations.csv", demo_settings(tmp_path), transport=sandbox.transport()
    )
    before = state(sandbox)
    settings = demo_settings(tmp_path, out=tmp_path / "undo-plan.csv")
    plan = run_undo(imported.result_path, settings, dry_run=True, transport=sandbox.transport())
    assert state(sandbox) == before
    assert plan.requests == 0
    assert plan.counts == {Status.WOULD_DELETE: 18, Status.SKIPPED: 2}
    assert plan.exit_code == 0


def test_a_relation_already_gone_is_reported_gone(tmp_path: Path) -> None:
    sandbox = Sandbox()
    imported = run_import(
        SAMPLES / "relations.csv", demo_settings(tmp_path), transport=sandbox.transport()
    )
    settings = demo_settings(tmp_path, out=tmp_path / "u1.csv")
    run_undo(imported.result_path, settings, transport=sandbox.transport())
    second = run_undo(
        imported.result_path,
        demo_settings(tmp_path, out=tmp_path / "u2.csv"),
        transport=sandbox.transport(),
    )
    assert second.counts == {Status.GONE: 18, Status.SKIPPED: 2}
    assert second.exit_code == 0


def test_undo_refuses_a_file_that_is_not_a_result(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="undo needs a result file of relimport"):
        run_undo(
            SAMPLES / "relations.csv", demo_settings(tmp_path), transport=Sandbox().transport()
        )


def test_rows_in_doubt_re_run_with_only_are_judged_and_undone_exactly(tmp_path: Path) -> None:
    """Every create is processed, then its connection drops; one attempt only: every row is
    in doubt, the two seeded pairs included (their duplicate answer was lost too)."""
    sandbox = Sandbox(faults=FaultPlan(drop_after_write_every=1))
    before = state(sandbox)
    settings = demo_settings(tmp_path, retry={"max_attempts": 1})
    first = run_import(SAMPLES / "relations.csv", settings, transport=sandbox.transport())
    assert first.counts == {Status.FAILED: 20}
    sandbox.set_faults(FaultPlan())  # the server recovers
    again = run_import(
        first.result_path,
        demo_settings(tmp_path, out=tmp_path / "again.csv"),
        only=frozenset({Status.FAILED}),
        transport=sandbox.transport(),
    )
    rows = read_results(again.result_path)
    # the first run's journal dates each attempt; the ids' creation times tell ours apart
    assert Counter(r["status"] for r in rows) == {"created": 18, "already_exists": 2}
    assert all(r["relation_id"] for r in rows)
    assert again.requests == 21  # the association, then one look-up each: nothing sent twice
    undone = run_undo(
        again.result_path,
        demo_settings(tmp_path, out=tmp_path / "undo.csv"),
        transport=sandbox.transport(),
    )
    assert undone.counts == {Status.DELETED: 18, Status.SKIPPED: 2}
    assert state(sandbox) == before


def test_without_the_earlier_journal_a_found_relation_is_unverified_and_kept(
    tmp_path: Path,
) -> None:
    sandbox = Sandbox(faults=FaultPlan(drop_after_write_every=1))
    settings = demo_settings(tmp_path, retry={"max_attempts": 1})
    first = run_import(SAMPLES / "relations.csv", settings, transport=sandbox.transport())
    moved = tmp_path / "elsewhere.csv"
    moved.write_bytes(first.result_path.read_bytes())  # its journal stays behind
    sandbox.set_faults(FaultPlan())
    again = run_import(
        moved,
        demo_settings(tmp_path, out=tmp_path / "again.csv"),
        only=frozenset({Status.FAILED}),
        transport=sandbox.transport(),
    )
    codes = Counter(r["error_code"] for r in read_results(again.result_path))
    assert codes == {"unverified": 20}
    cautious = run_undo(
        again.result_path,
        demo_settings(tmp_path, out=tmp_path / "u.csv"),
        transport=sandbox.transport(),
    )
    assert cautious.counts == {Status.SKIPPED: 20} and cautious.requests == 0
    thorough = run_undo(
        again.result_path,
        demo_settings(tmp_path, out=tmp_path / "u2.csv"),
        include_unverified=True,
        transport=sandbox.transport(),
    )
    assert thorough.counts == {Status.DELETED: 20}
