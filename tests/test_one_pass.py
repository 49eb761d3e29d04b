"""A dry run of one location and association does without the survey: it reads its file once
(twice when it asks the API about its rows first: look-ups, record checks); the survey's
checks (the header, no rows, the order of the columns) come with the pass that judges the
rows, and the results are those of a dry run that surveys the file first."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from importer.errors import InputError
from importer.models import RowWindow
from importer.report import Hooks
from importer.run import run_import
from importer.sandbox import Sandbox, student_id, teacher_id
from tests.conftest import demo_settings, read_results, write_csv

HEADER = ["Student ID", "Teacher ID"]
#: What a cell may hold: ids of either side (so rows may repeat, be swapped or name one
#: record twice), a blank, a placeholder, an id cut short, an e-mail address.
CELLS = st.one_of(
    st.integers(1, 6).map(student_id),
    st.integers(1, 6).map(teacher_id),
    st.sampled_from(["", "x", "67a349a79b28", "ana@example.edu", "67a349a79b28947ec1f6000Z"]),
)


def dry_run(
    path: Path, folder: Path, *, surveyed: bool, **changes: object
) -> tuple[list[str], list[dict[str, str]]]:
    """The phases and the result rows of a dry run of ``path``; ``surveyed``: a window of
    every row, which makes the run survey the file before its pass (as before one pass)."""
    phases: list[str] = []
    summary = run_import(
        path,
        demo_settings(
            folder, out=str(folder / ("surveyed.csv" if surveyed else "once.csv")), **changes
        ),
        dry_run=True,
        window=RowWindow(first=1) if surveyed else None,
        transport=Sandbox().transport(),
        hooks=Hooks(on_phase=lambda name, total: phases.append(name)),
    )
    return phases, read_results(summary.result_path)


def test_a_dry_run_reads_its_file_once(tmp_path: Path) -> None:
    rows = [[student_id(n), teacher_id(n)] for n in range(1, 6)]
    path = write_csv(tmp_path / "in.csv", [HEADER, *rows, rows[1], [teacher_id(1), ""]])
    phases, results = dry_run(path, tmp_path, surveyed=False)
    assert phases == ["checking"]  # no survey's "reading", no "writing results" from the journal
    assert [(r["row"], r["status"]) for r in results] == [
        *((str(n), "valid") for n in range(2, 7)),
        ("7", "duplicate_row"),
        ("8", "invalid"),
    ]
    surveyed_phases, surveyed = dry_run(path, tmp_path, surveyed=True)
    assert surveyed_phases == ["reading"]
    assert surveyed == results


def test_swapped_columns_stop_a_dry_run_after_its_pass_and_leave_no_result_file(
    tmp_path: Path,
) -> None:
    path = write_csv(tmp_path / "in.csv", [HEADER, [student_id(1), teacher_id(1)]])
    dry_run(path, tmp_path, surveyed=False)  # an earlier dry run's results, then swapped ids
    earlier = (tmp_path / "once.csv").read_bytes()
    write_csv(path, [HEADER, *[[teacher_id(n), student_id(n)] for n in range(1, 7)]])
    with pytest.raises(InputError, match=r"the columns look swapped\. In 6 rows") as stopped:
        dry_run(path, tmp_path, surveyed=False)
    assert "Nothing was sent" in str(stopped.value)
    assert (tmp_path / "once.csv").read_bytes() == earlier
    assert not list(tmp_path.glob(".*.partial"))


def test_a_header_without_rows_is_refused_after_one_reading(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "in.csv", [HEADER])
    with pytest.raises(InputError, match="there are no rows to process under the header"):
        dry_run(path, tmp_path, surveyed=False)
    assert not (tmp_path / "once.csv").exists()


def test_a_dry_run_with_look_ups_reads_its_file_twice(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "in.csv",
        [["Student email", "Teacher ID"], ["ana.ruiz@example.edu", teacher_id(1)]],
    )
    changes = {"first_column": "Student email", "first_lookup": "student_email"}
    phases, results = dry_run(path, tmp_path, surveyed=False, **changes)
    assert phases == ["checking", "reading", "look-ups"]  # the questions' reading, then the pass
    assert [r["status"] for r in results] == ["valid"]
    assert dry_run(path, tmp_path, surveyed=True, **changes)[1] == results


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(CELLS, CELLS), min_size=1, max_size=12), st.booleans())
def test_one_pass_judges_every_row_as_a_surveyed_dry_run_does(
    rows: list[tuple[str, str]], check_records: bool
) -> None:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        path = write_csv(folder / "in.csv", [HEADER, *map(list, rows)])
        try:
            surveyed = dry_run(path, folder, surveyed=True, check_records=check_records)[1]
        except InputError as error:  # the survey stops it: so does the one pass, alike
            with pytest.raises(InputError) as stopped:
                dry_run(path, folder, surveyed=False, check_records=check_records)
            once, first = str(stopped.value), str(error)
            # or, with record checks, the same stop told by the records' kinds: the pass comes
            # after the record checks, where the survey had the id shapes first
            by_kinds = "columns are swapped" in once and "columns look swapped" in first
            assert once == first or (check_records and by_kinds)
            return
        once = dry_run(path, folder, surveyed=False, check_records=check_records)[1]
        assert once == surveyed


def test_row_warnings_are_said_after_the_order_check(tmp_path: Path) -> None:
    """Swapped columns warn of every row's shape: a run without a survey holds the row
    warnings until its order check passes, so the error comes alone, as after a survey."""
    swapped = write_csv(
        tmp_path / "swapped.csv", [HEADER, *[[teacher_id(n), student_id(n)] for n in range(1, 7)]]
    )
    mixed = write_csv(
        tmp_path / "mixed.csv",
        [
            HEADER,
            *[[student_id(n), teacher_id(n)] for n in range(1, 4)],
            [teacher_id(9), teacher_id(8)],
        ],
    )
    for path, stops in ((swapped, True), (mixed, False)):
        notices: list[str] = []
        try:
            run_import(
                path,
                demo_settings(tmp_path, out=str(tmp_path / f"{path.stem}-out.csv")),
                dry_run=True,
                transport=Sandbox().transport(),
                hooks=Hooks(on_notice=notices.append),
            )
        except InputError:
            assert stops
        else:
            assert not stops
        warned = [line for line in notices if ": warning: " in line]
        if stops:
            assert warned == []
        else:
            assert len(warned) == 1 and warned[0].startswith(f"{mixed}: row 5: warning: ")
