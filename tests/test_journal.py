from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace
from pathlib import Path

import pytest

from importer.errors import InputError
from importer.models import Outcome, Status
from importer.run import OUTCOME_GROUP, Identity, Journal, is_final, peek

IDENTITY = Identity(
    kind="import",
    path="/data/in.csv",
    size=10,
    sha256="ab",
    sheet="",
    columns="A | B",
    association="student_teacher",
    location_id="loc",
    selection="",
    target="sandbox",
)


def test_outcomes_come_back_in_input_order_with_intents(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j", IDENTITY) as journal:
        journal.record(2, 4, Outcome(Status.INVALID, error_code="x"), durable=False)
        journal.intend(0, 2)
        journal.record(1, 3, Outcome(Status.CREATED, relation_id="r1", attempts=1))
        entries = list(journal.entries())
    assert [(e.seq, e.intent, e.outcome and e.outcome.status) for e in entries] == [
        (0, True, None),
        (1, False, Status.CREATED),
        (2, False, Status.INVALID),
    ]
    assert entries[0].intent_at is not None


def test_a_batched_outcome_is_durable_once_an_intent_follows(tmp_path: Path) -> None:
    path = tmp_path / "j"
    journal = Journal.open(path, IDENTITY)
    journal.record(0, 2, Outcome(Status.INVALID), durable=False)
    journal.intend(1, 3)  # commits the batch before the intent
    other = sqlite3.connect(path)  # another process's view, as after kill -9
    assert other.execute("SELECT seq, status, intent FROM rows ORDER BY seq").fetchall() == [
        (0, "invalid", 0),
        (1, None, 1),
    ]
    other.close()
    journal.close()


def test_attempts_add_up_over_runs_and_doubt_is_kept_or_cleared(tmp_path: Path) -> None:
    with Journal.open(tmp_path / "j", IDENTITY) as journal:
        journal.intend(0, 2)
        failed = Outcome(Status.FAILED, error_code="gave_up", attempts=3, in_doubt=True)
        journal.record(0, 2, failed)
        assert next(journal.entries()).intent is True
        journal.record(0, 2, Outcome(Status.CREATED, relation_id="r", attempts=2))
        entry = next(journal.entries())
    assert entry.outcome is not None
    assert (entry.outcome.attempts, entry.intent) == (5, False)


def test_a_journal_of_another_input_is_refused_saying_what_changed(tmp_path: Path) -> None:
    Journal.open(tmp_path / "j", IDENTITY).close()
    changed = replace(IDENTITY, size=11, sha256="cd", sheet="Sheet 2")
    with pytest.raises(InputError) as caught:
        Journal.open(tmp_path / "j", changed)
    assert str(caught.value) == (
        f"{tmp_path / 'j'}: this result belongs to another run: the input file changed since "
        "(it had 10 bytes, now 11); the sheet was none, now 'Sheet 2'. Re-run with --restart "
        "to start over (the earlier result is kept beside it), or choose another --out."
    )
    same_size = replace(IDENTITY, sha256="cd")
    with pytest.raises(InputError, match=r"changed since \(same size, other content\)\."):
        Journal.open(tmp_path / "j", same_size)
    assert peek(tmp_path / "j") is not None and peek(tmp_path / "j")["size"] == "10"  # type: ignore[index]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"just some text, not a database at all" * 50, "this is not a relimport journal"),
        (None, "journal format '0' is not 'relimport-journal/3'"),
    ],
)
def test_foreign_and_old_journals_are_refused(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "j"
    if content is not None:
        path.write_bytes(content)
    else:
        Journal.open(path, IDENTITY).close()
        with sqlite3.connect(path) as db:
            db.execute("UPDATE meta SET value = '0' WHERE key = 'format'")
    with pytest.raises(InputError, match=message):
        Journal.open(path, IDENTITY)


@pytest.mark.parametrize(
    ("outcome", "final"),
    [
        (Outcome(Status.CREATED), True),
        (Outcome(Status.INVALID), True),
        (Outcome(Status.FAILED, error_code="rejected"), True),
        # a refusal after a request that may have written: perhaps an echo of our own write
        (Outcome(Status.FAILED, error_code="rejected", in_doubt=True), False),
        (Outcome(Status.FAILED, error_code="gave_up"), False),
        (Outcome(Status.FAILED, error_code="lookup_failed"), False),
        (Outcome(Status.NOT_SENT, error_code="interrupted"), False),
    ],
)
def test_which_outcomes_a_resume_keeps(outcome: Outcome, final: bool) -> None:
    assert is_final(outcome) is final


def rows_seen_by_another_process(path: Path) -> list[tuple[int, str | None, int]]:
    other = sqlite3.connect(path)  # another process's view, as after kill -9
    try:
        return other.execute("SELECT seq, status, intent FROM rows ORDER BY seq").fetchall()
    finally:
        other.close()


def test_a_group_of_intents_is_committed_at_once_with_the_outcomes_before_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j"
    with Journal.open(path, IDENTITY) as journal:
        journal.record(0, 2, Outcome(Status.INVALID), durable=False)
        journal.intend_all([(1, 3), (2, 4), (3, 5)])
        assert rows_seen_by_another_process(path) == [
            (0, "invalid", 0),
            (1, None, 1),
            (2, None, 1),
            (3, None, 1),
        ]


@pytest.mark.anyio
async def test_outcomes_of_requests_that_arrive_together_are_committed_together(
    tmp_path: Path,
) -> None:
    path = tmp_path / "j"
    created = Outcome(Status.CREATED, relation_id="r", attempts=1)
    with Journal.open(path, IDENTITY) as journal:
        journal.intend_all([(seq, seq + 2) for seq in range(OUTCOME_GROUP + 2)])
        journal.record(0, 2, created)
        journal.record(1, 3, created)  # arrived together: one group
        assert rows_seen_by_another_process(path)[:2] == [(0, None, 1), (1, None, 1)]
        await asyncio.sleep(0)  # the loop has run what was ready: committed
        assert rows_seen_by_another_process(path)[:2] == [(0, "created", 0), (1, "created", 0)]
        for seq in range(2, OUTCOME_GROUP + 2):  # a full group is committed at once
            journal.record(seq, seq + 2, created)
        seen = rows_seen_by_another_process(path)
        assert [status for _, status, _ in seen] == ["created"] * (OUTCOME_GROUP + 2)


def test_without_an_event_loop_an_outcome_is_committed_at_once(tmp_path: Path) -> None:
    path = tmp_path / "j"
    with Journal.open(path, IDENTITY) as journal:
        journal.record(0, 2, Outcome(Status.CREATED, relation_id="r", attempts=1))
        assert rows_seen_by_another_process(path) == [(0, "created", 0)]
