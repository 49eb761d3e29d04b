"""--mirror through the sandbox: what relimport created and the file dropped is deleted, never
a relation it did not create; the cap; dry runs; lost answers; resumes."""

from __future__ import annotations

from pathlib import Path

import pytest

from importer.config import Settings
from importer.errors import ConfigError
from importer.models import RowWindow, Status
from importer.report import Hooks, RunSummary
from importer.run import run_import
from importer.sandbox import DEMO_LOCATION, FaultPlan, Sandbox, student_id, teacher_id
from tests.conftest import SAMPLES, demo_settings, read_results
from tests.helpers import FAST, export, night, nightly_sandbox, relations_on


def mirror_night(
    tmp_path: Path, sandbox: Sandbox, students: int, number: int, **changes: object
) -> RunSummary:
    path = export(tmp_path, number, students=students)
    return night(tmp_path, sandbox, path, number, mirror=True, **changes)


def test_a_pair_dropped_from_the_file_is_deleted_and_one_there_before_never(
    tmp_path: Path,
) -> None:
    sandbox = nightly_sandbox()
    night(tmp_path, sandbox, export(tmp_path, 0, students=1), 0)  # s1's pairs: created
    first = mirror_night(tmp_path, sandbox, 40, 1)  # s1's three pairs were there already too
    assert first.counts == {Status.ALREADY_EXISTS: 3, Status.CREATED: 117}
    assert first.deletions == {}
    second = mirror_night(tmp_path, sandbox, 38, 2)  # students 39 and 40 left the export
    assert second.deletions == {Status.DELETED: 6}
    assert second.by_purpose() == {
        "associations": 1,
        "ledger checks": 1,
        "mirror deletes": 6,
        "creates": 0,
    }
    assert second.exit_code == 0
    assert set(relations_on(sandbox)) == {
        (student_id(s), teacher_id(t)) for s in range(1, 39) for t in range(1, 4)
    }
    deleted = read_results(tmp_path / "night-2-deleted.csv")
    assert [(r["status"], r["first_id"]) for r in deleted] == [
        ("deleted", student_id(s)) for s in (39, 39, 39, 40, 40, 40)
    ]
    assert list(deleted[0]) == [
        "row", "status", "relation_id", "first_id", "second_id", "error_code", "error",
        "http_status", "attempts",
    ]  # fmt: skip
    third = mirror_night(tmp_path, sandbox, 38, 3)  # the ledger forgot them: nothing more
    assert third.deletions == {}
    assert third.requests == 1 + 1


def test_relations_that_existed_before_relimport_are_never_deleted(tmp_path: Path) -> None:
    sandbox = Sandbox()  # students 1 and 2 are linked to teacher 1 before any run
    rows = [["Student ID", "Teacher ID"], [student_id(1), teacher_id(1)]]
    rows += [[student_id(2), teacher_id(1)], [student_id(3), teacher_id(1)]]
    path = tmp_path / "in.csv"
    path.write_text("\n".join(",".join(r) for r in rows) + "\n")
    settings = demo_settings(tmp_path, out=tmp_path / "a.csv", mirror=True, max_deletes=10)
    run_import(path, settings, transport=sandbox.transport())
    path.write_text(",".join(rows[0]) + "\n")  # nothing left in the file
    path.write_text(path.read_text() + f"{student_id(4)},{teacher_id(1)}\n")
    settings = demo_settings(tmp_path, out=tmp_path / "b.csv", mirror=True, max_deletes=10)
    summary = run_import(path, settings, transport=sandbox.transport())
    assert summary.deletions == {Status.DELETED: 1}  # student 3's, which relimport created
    pairs = {(r["firstRecordId"], r["secondRecordId"]) for r in sandbox.relations(DEMO_LOCATION)}
    assert pairs == {
        (student_id(1), teacher_id(1)),
        (student_id(2), teacher_id(1)),
        (student_id(4), teacher_id(1)),
    }


def test_more_deletions_than_the_cap_stop_before_anything_is_sent(tmp_path: Path) -> None:
    sandbox = nightly_sandbox()
    mirror_night(tmp_path, sandbox, 20, 1)  # 60 pairs: the default cap is 6 (10 %)
    before = sandbox.stats(DEMO_LOCATION).by_route.get("POST /associations/relations", 0)
    with pytest.raises(ConfigError) as raised:
        mirror_night(tmp_path, sandbox, 17, 2)  # 9 to delete, and one new student
    assert str(raised.value) == (
        "--mirror would delete 9 relations of the association student_teacher (pairs "
        "relimport created that the file no longer holds), more than the cap of 6 (at most "
        "100, and 10 % of the 60 pairs the ledger holds for it). Nothing was sent. Check that "
        "the file is the whole export; if it is, run again with --max-deletes 9."
    )
    assert sandbox.stats(DEMO_LOCATION).by_route.get("POST /associations/relations", 0) == before
    assert len(set(relations_on(sandbox))) == 60
    allowed = mirror_night(tmp_path, sandbox, 17, 3, max_deletes=9)
    assert allowed.deletions == {Status.DELETED: 9}


def test_a_dry_run_lists_and_counts_the_deletions_and_deletes_nothing(tmp_path: Path) -> None:
    sandbox = nightly_sandbox()
    mirror_night(tmp_path, sandbox, 30, 1)
    notices: list[str] = []
    settings = demo_settings(tmp_path, out=tmp_path / "dry.csv", mirror=True, **FAST)
    dry = run_import(
        export(tmp_path, 2, students=28),
        settings,
        transport=sandbox.transport(),
        dry_run=True,
        hooks=Hooks(on_notice=notices.append),
    )
    assert dry.deletions == {Status.VALID: 6}
    assert dry.plan is not None
    assert dry.plan.as_json()["requests"]["mirror deletes"] == 6  # type: ignore[index]
    assert notices == [
        "Ledger: 84 rows were linked already (the ledger of known relations): no request for them.",
        f"--mirror: 6 relations would be deleted: see {tmp_path}/dry-deleted.csv",
    ]
    assert len(read_results(tmp_path / "dry-deleted.csv")) == 6
    assert len(set(relations_on(sandbox))) == 90


def test_deletions_cut_by_the_daily_budget_are_resumed_from_the_journal(
    tmp_path: Path,
) -> None:
    sandbox = nightly_sandbox(FaultPlan(drop_after_write_every=4))  # lost create answers on night 1
    retry = {"max_attempts": 10, "backoff_initial": 0.0, "backoff_max": 0.0}
    mirror_night(tmp_path, sandbox, 30, 1, retry=retry)
    assert len(set(relations_on(sandbox))) == 90
    path = export(tmp_path, 2, students=28)
    left = 200_000 - sandbox.stats(DEMO_LOCATION).requests

    def settings(reserve: int) -> Settings:
        limits = {"max_requests": 1000, "window_seconds": 1.0, "daily_reserve": reserve}
        out = tmp_path / "night-2.csv"
        return demo_settings(
            tmp_path, out=out, mirror=True, rate_limit=limits, retry=retry, concurrency=1
        )

    cut = run_import(path, settings(left - 5), transport=sandbox.transport())
    assert cut.exit_code == 5
    assert cut.deletions == {Status.DELETED: 3, Status.NOT_SENT: 3}
    resumed = run_import(path, settings(0), transport=sandbox.transport())
    assert resumed.exit_code == 0
    assert resumed.deletions == {Status.DELETED: 6}
    assert len(set(relations_on(sandbox))) == 84
    rows = read_results(tmp_path / "night-2-deleted.csv")
    assert [r["first_id"] for r in rows] == [student_id(s) for s in (29, 29, 29, 30, 30, 30)]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"location_column": "Loc"}, "--mirror works on a file of one location"),
        ({"ledger": False}, "--mirror needs the ledger"),
    ],
)
def test_mirror_refuses_what_it_cannot_do_safely(
    tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        run_import(
            export(tmp_path, 1, students=1),
            demo_settings(tmp_path, mirror=True, **changes),
            transport=Sandbox().transport(),
        )


def test_mirror_refuses_a_window_of_rows(tmp_path: Path) -> None:
    """--rows / --limit with --mirror would delete every relation outside the window."""
    with pytest.raises(ConfigError, match="--mirror needs the whole export: with --limit 2"):
        run_import(
            SAMPLES / "relations.csv",
            demo_settings(tmp_path, mirror=True),
            window=RowWindow(limit=2),
            transport=Sandbox().transport(),
        )
