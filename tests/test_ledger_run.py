"""The ledger in runs through the sandbox: nightly costs, drift repair, undo, dry runs, faults."""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pytest

from importer.config import Settings
from importer.errors import ConfigError
from importer.models import Status
from importer.report import Hooks
from importer.run import run_import, run_undo
from importer.sandbox import (
    DEMO_LOCATION,
    STUDENT_TEACHER_ID,
    FaultPlan,
    student_id,
    teacher_id,
)
from importer.state import RELIMPORT, Ledger, ledger_path
from tests.conftest import demo_settings, read_results
from tests.helpers import FAST, delete, export, night, nightly_sandbox, relations_on

READ = "GET /associations/relations/{recordId}"


def test_night_two_pays_for_the_new_pairs_and_a_seventh_of_the_records(tmp_path: Path) -> None:
    sandbox = nightly_sandbox()
    first = night(tmp_path, sandbox, export(tmp_path, 1, students=40), 1)
    assert first.counts == {Status.CREATED: 120}
    assert first.requests == 1 + 120  # the association, the creates: the ledger was empty
    second = night(tmp_path, sandbox, export(tmp_path, 2, students=50), 2)  # 30 new pairs
    assert second.counts == {Status.CREATED: 30, Status.ALREADY_EXISTS: 120}
    teachers = 3  # the side with fewer records: one read of each (40 relations: one page)
    assert second.requests == 1 + 30 + math.ceil(teachers / 7)
    assert second.by_purpose() == {"associations": 1, "ledger checks": 1, "creates": 30}
    rows = read_results(second.result_path)
    known = [r for r in rows if r["status"] == "already_exists"]
    assert {r["error_code"] for r in known} == {"known"}
    assert known[0]["error"].startswith("linked already: the API confirmed it on 20")
    assert all(r["relation_id"] for r in known)


def test_without_the_ledger_night_two_pays_for_every_row(tmp_path: Path) -> None:
    sandbox = nightly_sandbox()
    night(tmp_path, sandbox, export(tmp_path, 1, students=10), 1, ledger=False)
    second = night(tmp_path, sandbox, export(tmp_path, 2, students=12), 2, ledger=False)
    assert second.requests == 1 + 36  # 30 duplicates answered by the API, 6 creates
    assert second.counts == {Status.CREATED: 6, Status.ALREADY_EXISTS: 30}


def test_a_relation_deleted_behind_our_back_is_created_again_within_verify_days_runs(
    tmp_path: Path,
) -> None:
    sandbox = nightly_sandbox()
    path = export(tmp_path, 1, students=20, teachers=6)  # 6 teachers: one read a night
    night(tmp_path, sandbox, path, 1)
    victims = [r for r in sandbox.relations(DEMO_LOCATION) if r["secondRecordId"] == teacher_id(6)]
    for relation in victims[:3]:
        delete(sandbox, relation["id"])
    notices: list[str] = []
    recreated: list[int] = []
    for number in range(2, 2 + 7):
        settings = demo_settings(tmp_path, out=tmp_path / f"night-{number}.csv", **FAST)
        summary = run_import(
            path, settings, transport=sandbox.transport(), hooks=Hooks(on_notice=notices.append)
        )
        assert summary.by_purpose()["ledger checks"] == 1
        if summary.counts.get(Status.CREATED):
            assert summary.counts[Status.CREATED] == 3
            recreated.append(number)
    assert len(recreated) == 1  # within seven runs, once
    gone = (
        "Ledger: 3 relations it knew are gone from the CRM (deleted since): the rows that name "
        "them are sent again."
    )
    known = (
        "Ledger: {} rows were linked already (the ledger of known relations): no request for them."
    )
    assert notices == [
        *[known.format(120)] * (recreated[0] - 2),  # before: three of them known, wrongly
        gone,
        known.format(117),
        *[known.format(120)] * (8 - recreated[0]),
    ]
    assert len(set(relations_on(sandbox))) == 120


def test_a_relation_gone_that_the_file_no_longer_holds_is_only_forgotten(tmp_path: Path) -> None:
    sandbox = nightly_sandbox()
    state = tmp_path / "state"
    night(tmp_path, sandbox, export(tmp_path, 1, students=3, teachers=1), 1, state_dir=state)
    (gone,) = [r for r in sandbox.relations(DEMO_LOCATION) if r["firstRecordId"] == student_id(3)]
    delete(sandbox, gone["id"])
    second = night(
        tmp_path, sandbox, export(tmp_path, 2, students=2, teachers=1), 2, state_dir=state
    )
    assert second.requests == 1 + 1  # the association; teacher 1's relations: nothing to send
    assert second.counts == {Status.ALREADY_EXISTS: 2}
    ledger = open_file_ledger(state)
    assert {(p.first_id, p.second_id) for p, _ in ledger.pairs(STUDENT_TEACHER_ID)} == (
        set(relations_on(sandbox))
    )


def open_file_ledger(state: Path) -> Ledger:
    target = Settings().target
    ledger = Ledger.open(ledger_path(state, target, DEMO_LOCATION), target, DEMO_LOCATION)
    assert ledger is not None
    return ledger


def test_undo_forgets_what_it_deleted_and_the_next_run_creates_it_again(tmp_path: Path) -> None:
    sandbox = nightly_sandbox()
    path = export(tmp_path, 1, students=4, teachers=2)
    first = night(tmp_path, sandbox, path, 1)
    undone = run_undo(
        first.result_path,
        demo_settings(tmp_path, out=tmp_path / "undo.csv", **FAST),
        transport=sandbox.transport(),
    )
    assert undone.counts == {Status.DELETED: 8}
    again = night(tmp_path, sandbox, path, 2)
    assert again.counts == {Status.CREATED: 8}


def test_a_dry_run_reads_the_ledger_counts_its_checks_and_writes_nothing(tmp_path: Path) -> None:
    sandbox = nightly_sandbox()
    state = tmp_path / "state"
    night(tmp_path, sandbox, export(tmp_path, 1, students=5), 1, state_dir=state)
    before = list(open_file_ledger(state).pairs(STUDENT_TEACHER_ID))
    delete(sandbox, sandbox.relations(DEMO_LOCATION)[0]["id"])
    settings = demo_settings(tmp_path, out=tmp_path / "dry.csv", state_dir=state, **FAST)
    dry = run_import(
        export(tmp_path, 2, students=6), settings, transport=sandbox.transport(), dry_run=True
    )
    assert dry.counts == {Status.ALREADY_EXISTS: 14, Status.VALID: 4}  # 3 new, 1 gone
    assert dry.plan is not None
    assert dry.plan.as_json()["requests"]["ledger checks"] == 1  # type: ignore[index]
    assert dry.plan.as_json()["requests"]["creates"] == 4  # type: ignore[index]
    assert list(open_file_ledger(state).pairs(STUDENT_TEACHER_ID)) == before


def test_lost_answers_and_503s_leave_the_ledger_equal_to_the_server(tmp_path: Path) -> None:
    sandbox = nightly_sandbox(FaultPlan(drop_after_write_every=5, fail_every=7))
    state = tmp_path / "state"
    retry = {"max_attempts": 10, "backoff_initial": 0.0, "backoff_max": 0.0}
    first = night(
        tmp_path, sandbox, export(tmp_path, 1, students=20), 1, state_dir=state, retry=retry
    )
    assert Counter(first.counts) == {Status.CREATED: 60}
    ledger = open_file_ledger(state)
    held = {(p.first_id, p.second_id): k for p, k in ledger.pairs(STUDENT_TEACHER_ID)}
    assert set(held) == set(relations_on(sandbox))
    assert {k.made_by for k in held.values()} == {RELIMPORT}
    ids = {r["id"] for r in sandbox.relations(DEMO_LOCATION)}
    assert {k.relation_id for k in held.values()} == ids


def test_skip_existing_reads_nothing_for_the_pairs_the_ledger_holds(tmp_path: Path) -> None:
    sandbox = nightly_sandbox()
    path = export(tmp_path, 1, students=10)
    night(tmp_path, sandbox, path, 1)
    again = night(tmp_path, sandbox, path, 2, skip_existing=True)
    assert again.by_purpose() == {"associations": 1, "ledger checks": 1, "creates": 0}
    assert again.counts == {Status.ALREADY_EXISTS: 30}


def test_a_ledger_that_cannot_be_opened_stops_undo_before_any_delete(tmp_path: Path) -> None:
    sandbox = nightly_sandbox()
    state = tmp_path / "state"
    first = night(tmp_path, sandbox, export(tmp_path, 1, students=2), 1, state_dir=state)
    (path,) = state.glob("ledger-*.sqlite")
    for beside in state.glob("ledger-*"):  # the ledger and its WAL files (not the locks)
        beside.unlink()
    path.write_bytes(b"not a ledger" * 500)
    settings = demo_settings(tmp_path, out=tmp_path / "undo.csv", state_dir=state, **FAST)
    with pytest.raises(ConfigError, match="the ledger cannot be opened"):
        run_undo(first.result_path, settings, transport=sandbox.transport())
    assert "DELETE /associations/relations/{relationId}" not in (
        sandbox.stats(DEMO_LOCATION).by_route
    )
    assert len(set(relations_on(sandbox))) == 6
