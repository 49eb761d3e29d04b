from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from importer.models import Outcome, SourceRow, Status
from importer.report import ResultWriter, neutralise, result_header

#: The columns relimport adds after the input's, in their order (what users and tools read).
COLUMNS = "row status relation_id first_id second_id error_code error http_status attempts"
ADDED = COLUMNS.split()


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+33", "'+33"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_neutralise(cell: str, expected: str) -> None:
    assert neutralise(cell) == expected


def test_result_columns_are_prefixed_when_the_input_has_them() -> None:
    assert result_header(("status", "id")) == ("status", "id", "row", "result_status", *ADDED[2:])


def read(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8-sig", newline="") as file:
        return list(csv.reader(file))


def test_rows_are_written_in_input_order_with_the_result_columns(tmp_path: Path) -> None:
    path = tmp_path / "out.csv"
    rows = [SourceRow(n + 2, (f"a{n}", f"b{n}")) for n in range(5)]
    with ResultWriter(path, ("A", "B")) as writer:
        for seq, row in enumerate(rows):
            writer.add(seq, row, Outcome(Status.CREATED, relation_id=f"r{seq}", attempts=1))
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    table = read(path)
    assert table[0] == ["A", "B", *ADDED]
    assert [line[2] for line in table[1:]] == ["2", "3", "4", "5", "6"]
    assert [line[4] for line in table[1:]] == ["r0", "r1", "r2", "r3", "r4"]
    assert writer.counts == {Status.CREATED: 5}


def test_a_row_reported_twice_is_a_bug(tmp_path: Path) -> None:
    with (
        pytest.raises(ValueError, match="out of order"),
        ResultWriter(tmp_path / "o.csv", ("A",)) as writer,
    ):
        writer.add(0, SourceRow(2, ("x",)), Outcome(Status.VALID))
        writer.add(0, SourceRow(2, ("x",)), Outcome(Status.VALID))
    assert not (tmp_path / "o.csv").exists()
    assert list(tmp_path.iterdir()) == []


def test_a_failure_while_writing_leaves_no_result_file(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), ResultWriter(tmp_path / "o.csv", ("A",)) as writer:
        writer.add(0, SourceRow(2, ("x",)), Outcome(Status.VALID))
        raise RuntimeError("the disk is full")
    assert list(tmp_path.iterdir()) == []


def test_cells_that_look_like_formulas_are_neutralised(tmp_path: Path) -> None:
    path = tmp_path / "o.csv"
    with ResultWriter(path, ("=A",)) as writer:
        writer.add(0, SourceRow(2, ("=HYPERLINK(1)",)), Outcome(Status.FAILED, error="-x"))
    assert read(path) == [
        ["'=A", *ADDED],
        ["'=HYPERLINK(1)", "2", "failed", "", "", "", "", "'-x", "", "0"],
    ]


TRICKY = [
    "plain",
    "",
    "a,b",
    'say "hi"',
    "two\nlines",
    "cr\r",
    "=1+1",
    "+1",
    "-1",
    "@x",
    "\tx",
    "'=x",
    "''",
    "'a",
    "a=b",
    "nul\0here",
    "ünïcode ✓",
]


@pytest.mark.parametrize("cell", TRICKY)
def test_each_cell_is_written_as_csv_writes_it_once_neutralised(tmp_path: Path, cell: str) -> None:
    # whichever way the writer takes (most rows need no quoting nor neutralising), the bytes
    # are those of csv.writer given the neutralised cells, NULs removed from the API's fields
    path = tmp_path / "o.csv"
    row = SourceRow(7, (cell, "x"))
    outcome = Outcome(
        Status.FAILED,
        relation_id=cell,
        error_code=cell,
        error=cell,
        first_id=cell,
        http_status=422,
        attempts=2,
    )
    with ResultWriter(path, ("A", "B")) as writer:
        writer.add(0, row, outcome)
    expected = io.StringIO(newline="")
    reference = csv.writer(expected)
    reference.writerow([neutralise(name) for name in result_header(("A", "B"))])
    api = cell.replace("\0", "")
    reference.writerow(
        [neutralise(c) for c in (cell, "x", "7", "failed", api, cell, "", api, api, "422", "2")]
    )
    assert path.read_bytes() == ("\ufeff" + expected.getvalue()).encode()
