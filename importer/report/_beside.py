"""What a run leaves beside its result CSV once it ends: the workbook, plan.json and
summary.json, each written whole or not at all.

A file that cannot be written (open in Excel, read-only, a full disk) never crashes the run and
is never left stale: the summary says which (exit 6, ``results_not_written``), an older
summary.json that cannot be replaced is removed, and the journal still holds every outcome, so
the same command writes them all once the file is free.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from importer.report._csv import unwritten_message, write_json
from importer.report._summary import Hooks, RunSummary, plan_path, summary_path, workbook_path


def write_beside(
    summary: RunSummary,
    *,
    resume_command: str | None,
    lang: str = "en",
    notice: Callable[[str], None] = lambda message: None,
) -> tuple[RunSummary, dict[str, object]]:
    """Write the files beside ``summary.result_path``; return the summary as it ends (with
    the files it could not write) and summary.json's content."""
    unwritten = list(summary.unwritten)

    def attempt(path: Path, write: Callable[[], None]) -> None:
        try:
            write()
        except OSError as error:
            unwritten.append(str(path))
            notice(unwritten_message(path, error))

    if summary.plan is not None:
        plan = summary.plan
        attempt(
            plan_path(summary.result_path), lambda: plan.write_json(plan_path(summary.result_path))
        )
    if summary.written and summary.workbook:
        from importer.report.xlsx import write_workbook  # openpyxl: only when asked for

        book = workbook_path(summary.result_path)
        outcome = summary.as_json(resume_command)
        attempt(book, lambda: write_workbook(summary.result_path, book, outcome, lang=lang))
    path = summary_path(summary.result_path)
    summary = replace(summary, unwritten=tuple(unwritten))
    outcome = summary.as_json(resume_command)
    try:
        write_json(path, outcome)
    except OSError as error:
        summary = replace(summary, unwritten=(*summary.unwritten, str(path)))
        outcome = summary.as_json(resume_command)
        notice(unwritten_message(path, error))
        try:  # never a stale summary.json that a scheduler would read as this run's
            path.unlink(missing_ok=True)
        except OSError:
            notice(f"{path}: it is from an earlier run and could not be removed either: ignore it")
    return summary, outcome


def finish_run(
    summary: RunSummary, hooks: Hooks, resume_command: str | None, lang: str
) -> RunSummary:
    """The files beside the result file (summary.json, plan.json, the workbook), written by
    the library as by the command line; ``resume_command`` goes into summary.json."""
    errors = hooks.on_error or hooks.on_notice
    return write_beside(summary, resume_command=resume_command, lang=lang, notice=errors)[0]
