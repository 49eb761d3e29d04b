"""Cells with several ids: --split makes one pair per id, each with its row's number."""

from __future__ import annotations

from pathlib import Path

import pytest

from importer.config import ConfigError, load_settings
from importer.models import SourceRow
from importer.validate import split_ids
from tests.conftest import read_results
from tests.helpers import invoke

S1, S2, S3 = (f"67a349a79b28947ec1f6000{n}" for n in (1, 2, 3))
T2, T4 = "cTeacher000000000002", "cTeacher000000000004"


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        (("a", "t", "x;y"), [("a", "t", "x;y")]),  # only the id columns are split
        (("a;b", "t", ""), [("a", "t", ""), ("b", "t", "")]),
        (("a;b", "t;u", ""), [("a", "t", ""), ("a", "u", ""), ("b", "t", ""), ("b", "u", "")]),
        ((" a ; ;b;", "t", ""), [("a", "t", ""), ("b", "t", "")]),
        ((";", "t", ""), [(";", "t", "")]),  # nothing in it: left for the validator
    ],
)
def test_one_row_per_pair_with_the_rows_number(
    cells: tuple[str, ...], expected: list[tuple[str, ...]]
) -> None:
    rows = list(split_ids(iter([SourceRow(7, cells)]), lambda: (0, 1), ";"))
    assert [(row.number, row.cells) for row in rows] == [(7, pair) for pair in expected]


def test_split_is_one_separating_character() -> None:
    with pytest.raises(ConfigError, match="expected one character that separates ids"):
        load_settings(config_path=None, flags={"split": "ab"}, environ={})


def test_a_cell_of_several_ids_is_split_or_said_invalid(in_repo: Path) -> None:
    (in_repo / "multi.csv").write_text(f"Student ID,Teacher ID\n{S1};{S2},{T2}\n{S3},{T4}\n")
    code, _, _ = invoke("validate", "multi.csv", "--quiet")
    assert code == 1
    first = read_results(in_repo / "results/multi-dry-run.csv")[0]
    assert (first["row"], first["status"], first["error_code"], first["error"]) == (
        "2",
        "invalid",
        "first_id_several",
        f"the Student id in column 'Student ID' holds several values ({S1};{S2}); to make one "
        "relation per id, add --split ';' (or set split: ';')",
    )
    code, out, err = invoke("run", "multi.csv", "--split", ";")
    assert (code, err) == (0, "")
    assert out.startswith(
        "Import of multi.csv under student_teacher (Student -> Teacher): 3 rows\n"
        "  created                3\n"
    )
    rows = read_results(in_repo / "results/multi-results.csv")
    assert [(r["row"], r["Student ID"], r["first_id"], r["status"]) for r in rows] == [
        ("2", S1, S1, "created"),
        ("2", S2, S2, "created"),
        ("3", S3, S3, "created"),
    ]
