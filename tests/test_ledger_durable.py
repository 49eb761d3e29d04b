"""kill -9 at any instant of nightly runs: the ledger never claims a pair the API did not
confirm, and once the runs are finished it holds exactly what the API holds of the file's
pairs. Real processes, a loopback server with faults on, a real ledger file."""

from __future__ import annotations

import random
import sqlite3
from functools import partial
from pathlib import Path

import pytest

from importer.sandbox import DEMO_LOCATION, Limits, Sandbox
from importer.sandbox import serve as serve_sandbox
from importer.state import EXISTING, ledger_path
from tests.helpers import (
    CONFIG,
    SEEDED,
    every_fault,
    grid,
    grid_file,
    kill_until_done,
    relations_on,
    seeded,
)


def held(path: Path) -> dict[tuple[str, str], str]:
    """The ledger's pairs and who made them ({} before the first confirmation)."""
    if not path.exists():
        return {}
    connection = sqlite3.connect(path)
    try:
        return {
            (f, s): by
            for f, s, by in connection.execute(
                "SELECT first_id, second_id, made_by FROM pairs"
            ).fetchall()
        }
    except sqlite3.OperationalError:  # killed before the schema was written
        return {}
    finally:
        connection.close()


def claims_nothing_unconfirmed(ledger: Path, sandbox: Sandbox, dropped: set[object]) -> None:
    """Whatever instant the run died at: the ledger claims nothing the API does not hold, but
    a relation --mirror was deleting (forgotten once the API says it is gone: by the resume,
    the next --mirror run or drift repair)."""
    assert set(held(ledger)) - set(relations_on(sandbox)) <= dropped


@pytest.mark.slow
def test_kill_9_during_nightly_runs_leaves_the_ledger_true_to_the_api(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG)
    sandbox = seeded(100, 4, limits=Limits(burst=100, interval=0.5), faults=every_fault())
    chance = random.Random(20261204)
    kills = 0
    with serve_sandbox(sandbox) as server:
        ledger = ledger_path(tmp_path / ".relimport", server.url, DEMO_LOCATION)
        # night 2: the same pairs and 90 more; night 3 drops 10 students: --mirror deletes 30
        for number, students in ((1, 70), (2, 100), (3, 90)):
            pairs = grid(students, 3)
            grid_file(tmp_path / f"export-{number}.csv", pairs)
            dropped = set(held(ledger)) - set(pairs) if number == 3 else set()
            command = ["run", f"export-{number}.csv", "--out", f"night-{number}.csv", "--quiet"]
            command += ["--mirror"] if number == 3 else []
            waits = (chance.uniform(0.5, 2.0) for _ in range(12))
            after_kill = partial(claims_nothing_unconfirmed, ledger, sandbox, dropped)
            process, killed = kill_until_done(command, tmp_path, server.url, waits, after_kill)
            kills += killed
            assert process.returncode == 0, process.stderr
            kept = held(ledger)
            assert set(kept) == set(relations_on(sandbox)) == set(pairs) | SEEDED
            assert all(kept[pair] == EXISTING for pair in SEEDED)  # never ours to delete
    assert kills >= 2, "the runs finished before they could be killed: make them longer"
