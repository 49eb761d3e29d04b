"""Try before the whole file: --limit N and --rows FIRST-LAST, with row numbers kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from importer.models import RowWindow
from importer.run import run_import
from importer.sandbox import DEMO_LOCATION, Sandbox
from tests.conftest import SAMPLES, demo_settings, read_results
from tests.helpers import invoke

OUTSIDE = "outside --limit 2: not sent; run again without it to send this row"


@pytest.mark.parametrize(
    ("rows", "limit", "expected", "shown"),
    [
        ("100-250", None, RowWindow(100, 250), "--rows 100-250"),
        ("100-", None, RowWindow(100, None), "--rows 100-"),
        ("-250", None, RowWindow(None, 250), "--rows -250"),
        (" 7 ", None, RowWindow(7, 7), "--rows 7"),
        (None, 5, RowWindow(limit=5), "--limit 5"),
        ("3-9", 2, RowWindow(3, 9, 2), "--rows 3-9 --limit 2"),
    ],
)
def test_a_window_is_read_as_typed(
    rows: str | None, limit: int | None, expected: RowWindow, shown: str
) -> None:
    window = RowWindow.parse(rows, limit)
    assert (window, window.describe() if window else "") == (expected, shown)


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ("a-b", "expected row numbers such as 100-250, 100- or -250"),
        ("-", "expected row numbers such as 100-250, 100- or -250"),
        ("0-3", "rows are numbered from 1, as a spreadsheet numbers them"),
        ("9-3", "9-3 ends before it starts: give the first row first"),
    ],
)
def test_a_window_that_is_no_range_says_why(rows: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RowWindow.parse(rows)


def test_limit_tries_the_first_rows_and_is_a_success_when_they_work(in_repo: Path) -> None:
    code, out, err = invoke("run", "samples/relations.csv", "--limit", "2")
    assert (code, err) == (0, "")
    assert out == (
        "Import of samples/relations.csv under student_teacher (Student -> Teacher): 20 rows\n"
        "  already_exists         2\n"
        "  not_sent              18\n"
        "Requests: 3 (0 rate-limited). Time: T s, R rows/s.\n"
        "Outside --limit 2: 18 rows not sent (not_sent, outside_range); the same command "
        "without it sends them.\n"
        "Results: results/relations-results.csv\n"
    )
    rows = read_results(in_repo / "results/relations-results.csv")
    assert len(rows) == 20  # every input row once
    assert [(r["row"], r["status"], r["error_code"], r["error"]) for r in rows[1:4]] == [
        ("3", "already_exists", "", ""),
        ("4", "not_sent", "outside_range", OUTSIDE),
        ("5", "not_sent", "outside_range", OUTSIDE),
    ]
    summary = json.loads((in_repo / "results/relations-results.summary.json").read_text())
    assert (summary["outside_range"], summary["rows_chosen"]) == (18, "--limit 2")


def test_rows_keeps_row_numbers_and_a_failure_inside_still_counts(in_repo: Path) -> None:
    code, out, _ = invoke("run", "samples/relations-with-problems.csv", "--rows", "8-9")
    assert code == 1  # row 9 failed: the rows asked for did not all work
    rows = read_results(in_repo / "results/relations-with-problems-results.csv")
    assert [(r["row"], r["status"]) for r in rows if r["error_code"] != "outside_range"] == [
        ("8", "invalid"),
        ("9", "failed"),
    ]
    assert "Outside --rows 8-9: 9 rows not sent" in out


def test_rows_that_hold_no_row_stop_before_sending(in_repo: Path) -> None:
    code, _, err = invoke("validate", "samples/relations.csv", "--rows", "40-50")
    assert (code, err) == (
        2,
        "Error: samples/relations.csv: no row is in --rows 40-50: the file's rows are numbered "
        "2 to 21. Give rows as your spreadsheet numbers them.\n",
    )
    code, _, err = invoke("validate", "samples/relations.csv", "--rows", "9-3")
    assert code == 2
    assert err.endswith(
        "Error: Invalid value for '--rows': 9-3 ends before it starts: give the first row first\n"
    )


def test_a_run_without_the_limit_resumes_and_sends_the_rest(in_repo: Path, server_url: str) -> None:
    invoke("run", "samples/relations.csv", "--base-url", server_url, "--limit", "5")
    code, out, err = invoke("run", "samples/relations.csv", "--base-url", server_url)
    assert (code, err) == (0, "")
    assert out == (
        "Import of samples/relations.csv under student_teacher (Student -> Teacher): 20 rows\n"
        "Resumed: 5 rows were already settled (no request).\n"
        "  created               18\n"
        "  already_exists         2\n"
        "Requests: 15 (0 rate-limited). Time: T s, R rows/s.\n"
        "Results: results/relations-results.csv\n"
    )


def test_the_rows_outside_are_never_sent(tmp_path: Path) -> None:
    sandbox = Sandbox()
    summary = run_import(
        SAMPLES / "relations.csv",
        demo_settings(tmp_path),
        window=RowWindow(10, 12),
        transport=sandbox.transport(),
    )
    assert sandbox.stats(DEMO_LOCATION).by_route["POST /associations/relations"] == 3
    assert (summary.exit_code, summary.outside) == (0, 17)
    rows = read_results(summary.result_path)
    assert [r["row"] for r in rows if r["status"] == "created"] == ["10", "11", "12"]
