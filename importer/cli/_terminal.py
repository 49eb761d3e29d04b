"""A run on the terminal: one progress bar per phase, messages on stderr, the summary (or
one JSON object) on stdout, and the exit code a scheduler reads (see :mod:`importer.cli`)."""

from __future__ import annotations

import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from importer.cli._common import LOG, fail, json_output, print_json
from importer.cli._language import language, say
from importer.config import Settings
from importer.errors import ApiError, NothingToDo, RelimportError
from importer.i18n import translate
from importer.models import (
    EXIT_BUDGET,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_STOPPED,
    EXIT_UNWRITTEN,
    Status,
)
from importer.report import Hooks, RunSummary, workbook_path

if TYPE_CHECKING:
    from tqdm import tqdm


def starter(
    run: Callable[..., RunSummary],
    path: Path,
    settings: Callable[[], Settings],
    options: dict[str, Any],
) -> Callable[[Hooks], RunSummary]:
    """The run as the progress display starts it: the settings read then (their errors are
    the run's), the signals handled, the command that resumes it in summary.json."""

    def start(hooks: Hooks) -> RunSummary:
        return run(
            path,
            settings(),
            interruptible=True,
            hooks=hooks,
            resume_command=resume_command(),
            lang=language(),
            **options,
        )

    return start


def execute(
    start: Callable[[Hooks], RunSummary],
    *,
    quiet: bool,
) -> None:
    """Run with a progress bar and messages on stderr, the summary on stdout, the exit code."""
    show_progress = not quiet and sys.stderr.isatty()
    lang = language()  # now: the hooks may be called where click's context is not at hand
    bar: tqdm[Any] | None = None

    def open_bar(name: str, total: int | None, unit: str) -> None:
        """One bar per phase, with its own count (the one before it is closed)."""
        nonlocal bar
        if show_progress:
            if bar is not None:
                bar.close()
            from tqdm import tqdm  # here: a run without a bar (--quiet, no terminal) needs none

            desc, unit = translate(name, lang), translate(unit, lang)
            bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True)

    def on_phase(name: str, total: int | None) -> None:
        rows = name in ("reading", "checking", "writing results")
        open_bar(name, total, "row" if rows else "request")

    def on_progress(done: int) -> None:
        if bar is not None:
            bar.update(done)

    sending: list[int] = []  # the rows to send, once known: the bar opens at the first row

    def on_total(total: int) -> None:
        sending.append(total)

    def on_row(_: Status) -> None:
        if sending:  # the phases before sending (look-ups, checks) had their own bars
            open_bar("sending", sending.pop(), "row")
        if bar is not None:
            bar.update()

    def on_notice(message: str) -> None:
        if not quiet:
            from tqdm import tqdm

            tqdm.write(translate(message, lang), file=sys.stderr)

    try:
        summary = start(
            Hooks(
                on_total=on_total,
                on_row=on_row,
                on_notice=on_notice,
                on_error=lambda message: say(message, err=True),
                on_phase=on_phase,
                on_progress=on_progress,
            )
        )
    except NothingToDo as done:
        if json_output():
            print_json({"exit_code": EXIT_OK, "outcome": "nothing_to_do", "message": str(done)})
        elif not quiet:
            say(str(done))
        sys.exit(EXIT_OK)
    except (RelimportError, ApiError) as error:
        if bar is not None:
            bar.close()
        fail(error)
        return
    except KeyboardInterrupt:  # before the run could take over the signals: nothing was sent
        say("Interrupted before anything was sent.", err=True)
        if json_output():
            print_json(
                {
                    "exit_code": EXIT_INTERRUPTED,
                    "outcome": "interrupted",
                    "stopped_because": "interrupted before anything was sent",
                    "resume_command": resume_command(),
                }
            )
        LOG.error(
            "interrupted before anything was sent",
            extra={"event": "interrupted", "exit_code": EXIT_INTERRUPTED},
        )
        sys.exit(EXIT_INTERRUPTED)
    if bar is not None:
        bar.close()
    if not summary.rendered:  # and the JSON below says results: null
        say(
            "Stopped at once: the result file was not written, the journal beside it keeps "
            f"every outcome. To resume, run the same command again:\n  {resume_command()}",
            err=True,
        )
    outcome = summary.as_json(resume_command())  # as the library wrote it in summary.json
    if json_output():
        print_json(outcome)
        if outcome["stopped_because"]:  # stdout is the scheduler's; the reason stays on stderr
            say(f"The run stopped part-way: {outcome['stopped_because']}", err=True)
    elif summary.rendered and not quiet:
        say(format_summary(summary))
    LOG.info(
        "%s: exit %d",
        summary.title,
        summary.exit_code,
        extra={
            "event": "summary",
            "input": str(summary.input_path),
            "results": str(summary.result_path),
            "counts": {status.value: count for status, count in summary.counts.items()},
            "requests": summary.requests,
            "rate_limited": summary.rate_limited,
            "seconds": round(summary.elapsed, 3),
            "exit_code": summary.exit_code,
        },
    )
    sys.exit(summary.exit_code)


def format_summary(summary: RunSummary) -> str:
    """The closing report a person reads: counts, requests, speed, where the results are."""
    lines = [f"{summary.title}: {plural(summary.rows, 'row')}"]
    order = list(Status)
    for status in order:
        if summary.counts.get(status):
            lines.append(f"  {status.value:<15} {summary.counts[status]:>8}")
    # the rows this run processed: not those copied over from the journal, left out by
    # --rows / --limit, or not sent at all
    unsent = summary.counts_inside.get(Status.NOT_SENT, 0)
    processed = summary.rows - summary.resumed - summary.outside - unsent
    rate = processed / summary.elapsed if summary.elapsed > 0 else 0.0
    lines.append(
        f"Requests: {summary.requests} ({summary.rate_limited} rate-limited). "
        f"Time: {summary.elapsed:.1f} s, {rate:.1f} rows/s."
    )
    if summary.warnings:
        lines.append(
            "Warnings: 1 row has a warning"
            if summary.warnings == 1
            else f"Warnings: {summary.warnings} rows have a warning"
        )
        lines[-1] += " (an id of an unexpected shape, a short or long row): see the error column."
    if summary.outside:
        lines.append(
            f"Outside {summary.window}: {plural(summary.outside, 'row')} not sent "
            "(not_sent, outside_range); the same command without it sends them."
        )
    for reason in summary.not_sent_reasons:
        lines.append(f"Stopped a location: {reason}")
    if summary.stopped:
        lines.append(f"The run stopped part-way: {summary.stopped}")
    if summary.plan is not None:
        lines += summary.plan.lines()
    if summary.written:
        workbook = f" and {workbook_path(summary.result_path)}" if summary.workbook else ""
        lines.append(f"Results: {summary.result_path}{workbook}")
    for path in summary.unwritten:
        lines.append(f"Not written: {path} (see the message above)")
    code = summary.exit_code
    if code == EXIT_PARTIAL:
        lines.append("Some rows need attention: see the status and error columns of the results.")
    if summary.resumed:
        lines.insert(1, f"Resumed: {summary.resumed} rows were already settled (no request).")
    if code == EXIT_UNWRITTEN:
        lines.append(
            "Nothing is lost: the journal keeps every outcome. Once the files above can be "
            "written, run the same command again (no row is sent twice):"
        )
        lines.append(f"  {resume_command()}")
    elif code in (EXIT_STOPPED, EXIT_INTERRUPTED, EXIT_BUDGET) and not summary.resumable:
        left = summary.counts_inside.get(Status.NOT_SENT, 0)
        lines.append(
            f"{left} rows were not sent. "
            + (
                "A dry run is not resumed: running it again starts over."
                if summary.dry_run
                else "The built-in sandbox keeps nothing between runs: running the same "
                "command again starts over."
            )
        )
    elif code in (EXIT_STOPPED, EXIT_INTERRUPTED, EXIT_BUDGET):
        left = summary.counts_inside.get(Status.NOT_SENT, 0)
        when = {
            EXIT_STOPPED: "once the problem above is fixed",
            EXIT_INTERRUPTED: "whenever you like",
            EXIT_BUDGET: "after the location's daily budget resets or the API accepts requests "
            "again (see the reason above; the API does not say when a day resets)",
        }[code]
        were = "1 row was" if left == 1 else f"{left} rows were"
        lines.append(f"{were} not sent. To resume {when}, run the same command again:")
        lines.append(f"  {resume_command()}")
    return "\n".join(lines)


def plural(count: int, word: str) -> str:
    """``1 row``, ``2 rows``: a count with its noun (English; the catalogue has the rest)."""
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def resume_command() -> str:
    """The command line that resumes this run: the same one, without --restart."""
    arguments = [a for a in sys.argv[1:] if a != "--restart"]
    return shlex.join(["relimport", *arguments])
