"""The ledger store: confirmations, forgetting, the records drift repair reads, where it lives."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from importer.errors import ConfigError
from importer.models import Pair
from importer.sandbox import Sandbox
from importer.state import EXISTING, RELIMPORT, Known, Ledger, Side, ledger_path, open_ledgers
from tests.conftest import FakeTime, demo_settings

TARGET, LOCATION, A = "https://api.example.com", "loc1", "assoc1"
DAY = 86_400.0


def in_2027() -> FakeTime:
    """The virtual clock, on a day in January 2027."""
    return FakeTime(1_800_000_000.0)


def opened(tmp_path: Path, clock: FakeTime | None = None, **kwargs: bool) -> Ledger:
    path = ledger_path(tmp_path, TARGET, LOCATION)
    ledger = Ledger.open(path, TARGET, LOCATION, clock=(clock or in_2027()).clock, **kwargs)
    assert ledger is not None
    return ledger


def test_a_confirmation_is_on_disk_once_confirm_returns(tmp_path: Path) -> None:
    clock = in_2027()
    ledger = opened(tmp_path, clock)
    ledger.confirm(A, Pair("s1", "t1"), "r1", RELIMPORT, association_key="student_teacher")
    other = opened(tmp_path)  # another connection sees it: committed
    assert other.known(A, Pair("s1", "t1")) == Known("r1", RELIMPORT, clock.now)
    assert other.known(A, Pair("s1", "t2")) is None
    assert other.known("other", Pair("s1", "t1")) is None
    assert [(s.key, s.pairs, s.made_by_relimport) for s in other.status()] == [
        ("student_teacher", 1, 1)
    ]
    assert ledger_path(tmp_path, TARGET, LOCATION).name == (
        f"ledger-api.example.com-loc1-{ledger_path(tmp_path, TARGET, LOCATION).stem[-8:]}.sqlite"
    )


def test_relimport_wins_over_existing_and_a_known_id_is_kept(tmp_path: Path) -> None:
    clock = in_2027()
    ledger = opened(tmp_path, clock)
    pair = Pair("s1", "t1")
    ledger.confirm(A, pair, "r1", EXISTING)
    clock.now += DAY
    ledger.confirm(A, pair, "", RELIMPORT)
    assert ledger.known(A, pair) == Known("r1", RELIMPORT, clock.now)
    clock.now += DAY
    ledger.confirm(A, pair, "r2", EXISTING)  # a later duplicate answer: still ours
    assert ledger.known(A, pair) == Known("r2", RELIMPORT, clock.now)
    assert Known("r", RELIMPORT, 1_800_000_000.0).day == "2027-01-15"


def test_remember_adds_what_was_lost_without_redating(tmp_path: Path) -> None:
    clock = in_2027()
    ledger = opened(tmp_path, clock)
    ledger.confirm(A, Pair("s1", "t1"), "r1", RELIMPORT)
    clock.now += DAY
    ledger.remember(A, Pair("s1", "t1"), "r1", RELIMPORT)
    ledger.remember(A, Pair("s2", "t1"), "r2", EXISTING)
    assert ledger.known(A, Pair("s1", "t1")) == Known("r1", RELIMPORT, clock.now - DAY)
    assert ledger.known(A, Pair("s2", "t1")) == Known("r2", EXISTING, clock.now)


def test_forget_pairs_and_relations(tmp_path: Path) -> None:
    ledger = opened(tmp_path)
    for n in range(3):
        ledger.confirm(A, Pair(f"s{n}", "t1"), f"r{n}", RELIMPORT)
    ledger.forget(A, [Pair("s0", "t1")])
    ledger.forget_relation("r1")
    ledger.forget_relation("")  # no id: nothing
    assert [p for p, _ in ledger.pairs(A)] == [Pair("s2", "t1")]
    assert ledger.forget_all(A) == 1
    assert ledger.associations() == []


def test_a_read_only_ledger_forgets_for_the_run_only_and_writes_nothing(tmp_path: Path) -> None:
    assert Ledger.open(tmp_path / "none.sqlite", TARGET, LOCATION, read_only=True) is None
    assert not (tmp_path / "none.sqlite").exists()
    opened(tmp_path).confirm(A, Pair("s1", "t1"), "r1", RELIMPORT)
    dry = opened(tmp_path, read_only=True)
    dry.forget(A, [Pair("s1", "t1")])
    dry.confirm(A, Pair("s2", "t1"), "r2", RELIMPORT)
    dry.forget_relation("r1")
    assert dry.known(A, Pair("s1", "t1")) is None
    assert dry.pairs_of(A, "second_id", "t1") == {}
    assert list(opened(tmp_path).pairs(A)) == [
        (Pair("s1", "t1"), Known("r1", RELIMPORT, in_2027().now))
    ]


def test_the_cheapest_side_is_read_and_the_oldest_records_first(tmp_path: Path) -> None:
    clock = in_2027()
    ledger = opened(tmp_path, clock)
    for s in range(10):  # 10 students, 2 teachers: the teachers' side costs 2 requests
        for t in range(2):
            ledger.confirm(A, Pair(f"s{s}", f"t{t}"), "", RELIMPORT)
            clock.now += 1
    side = ledger.side(A)
    assert side is not None and (side.column, side.records, side.pages) == ("second_id", 2, 2)
    assert ledger.due(A, side, verify_days=7) == ["t0"]  # ceil(2 / 7) = 1, the oldest
    for s in range(150):  # t0 now has 160 relations: two pages; the students' side costs 160
        ledger.confirm(A, Pair(f"x{s}", "t0"), "", RELIMPORT)
    side = ledger.side(A)
    assert side is not None and (side.column, side.pages) == ("second_id", 3)
    assert ledger.side("none") is None


def test_records_not_confirmed_for_verify_days_are_all_due(tmp_path: Path) -> None:
    clock = in_2027()
    ledger = opened(tmp_path, clock)
    for t in range(20):
        ledger.confirm(A, Pair("s0", f"t{t:02}"), "", RELIMPORT)
        clock.now += 1
    assert ledger.side(A) == Side("first_id", 1, 1)
    teachers = Side("second_id", 20, 20)
    assert ledger.due(A, teachers, verify_days=7) == ["t00", "t01", "t02"]  # ceil(20 / 7)
    clock.now += 8 * DAY  # a run eight days later reads every one
    assert len(ledger.due(A, teachers, verify_days=7)) == 20


def test_a_ledger_of_another_target_or_not_a_ledger_is_refused(tmp_path: Path) -> None:
    path = ledger_path(tmp_path, TARGET, LOCATION)
    opened(tmp_path).close()
    with pytest.raises(ConfigError, match=r"is not the one of https://other, location loc1"):
        Ledger.open(path, "https://other", LOCATION)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database at all" * 100)
    with pytest.raises(ConfigError, match=r"junk\.sqlite: the ledger cannot be opened"):
        Ledger.open(junk, TARGET, LOCATION)


def test_the_sandbox_ledger_lives_with_the_sandbox_and_never_in_a_file(tmp_path: Path) -> None:
    settings = demo_settings(tmp_path)
    sandbox = Sandbox()
    with open_ledgers(settings, sandbox.transport(), read_only=False) as ledgers:
        ledger = ledgers.get(LOCATION)
        assert ledger is not None
        ledger.confirm(A, Pair("s1", "t1"), "r1", RELIMPORT)
    with open_ledgers(settings, sandbox.transport(), read_only=True) as ledgers:
        ledger = ledgers.get(LOCATION)
        assert ledger is not None and ledger.known(A, Pair("s1", "t1")) is not None
        ledger.forget(A, [Pair("s1", "t1")])  # a dry run: for itself only
    with open_ledgers(settings, sandbox.transport(), read_only=False) as ledgers:
        ledger = ledgers.get(LOCATION)
        assert ledger is not None and ledger.known(A, Pair("s1", "t1")) is not None
    with open_ledgers(settings, Sandbox().transport(), read_only=False) as ledgers:
        ledger = ledgers.get(LOCATION)  # another sandbox, another ledger
        assert ledger is not None and ledger.known(A, Pair("s1", "t1")) is None
    with open_ledgers(settings, None, read_only=False) as ledgers:  # a run's own sandbox
        assert ledgers.get(LOCATION) is not None
    assert list(tmp_path.iterdir()) == []


def test_a_state_folder_gives_a_sandbox_transport_a_file_and_ledger_false_none(
    tmp_path: Path,
) -> None:
    settings = demo_settings(tmp_path, state_dir=tmp_path / "state")
    with open_ledgers(settings, Sandbox().transport(), read_only=False) as ledgers:
        ledger = ledgers.get(LOCATION)
        assert ledger is not None
        ledger.confirm(A, Pair("s1", "t1"), "r1", RELIMPORT)
    (path,) = (tmp_path / "state").iterdir()
    connection = sqlite3.connect(path)
    assert dict(connection.execute("SELECT key, value FROM meta"))["location"] == LOCATION
    connection.close()
    with open_ledgers(demo_settings(tmp_path, ledger=False), None, read_only=False) as ledgers:
        assert ledgers.get(LOCATION) is None
