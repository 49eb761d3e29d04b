"""What a run did, for the person who ran it and for a scheduler (``summary.json``).

:class:`Hooks` are how a run reports while it goes; :class:`RunSummary` is what it says at the
end, with the exit code that the command returns.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from importer.models import (
    EXIT_BUDGET,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_OVER_BUDGET,
    EXIT_PARTIAL,
    EXIT_STOPPED,
    EXIT_UNWRITTEN,
    IMPORT_OK,
    OUTCOMES,
    RESUMABLE,
    Association,
    Status,
)
from importer.report._plan import Plan


@dataclass(frozen=True)
class Hooks:
    """How a run talks to whoever watches it (the CLI's progress bar and messages)."""

    on_total: Callable[[int], None] = lambda total: None
    on_row: Callable[[Status], None] = lambda status: None
    on_notice: Callable[[str], None] = lambda message: None
    #: What a person must see even when notices are not wanted (a file that could not be
    #: written). Unset, errors go where notices go.
    on_error: Callable[[str], None] | None = None
    #: A phase before sending begins ("reading", "look-ups", "record checks"; "checking": a
    #: dry run's one reading, its rows counted by ``on_row``), with its number
    #: of steps when known; ``on_progress(n)``: n more of them are done. ``on_total`` says how
    #: many rows there are to send once the file is read (the checks may come after it), and
    #: ``on_row`` counts them.
    on_phase: Callable[[str, int | None], None] = lambda name, total: None
    on_progress: Callable[[int], None] = lambda done: None


@dataclass(frozen=True)
class RunSummary:
    """What a run did; ``exit_code`` is what the CLI returns."""

    title: str  # e.g. "Import of in.csv under student_teacher (Student -> Teacher)"
    input_path: Path
    result_path: Path
    counts: dict[Status, int]
    requests: int
    rate_limited: int
    elapsed: float
    dry_run: bool
    association: Association | None = None
    stopped: str | None = None  # why the run stopped part-way (exit 3)
    interrupted: bool = False  # Ctrl-C or SIGTERM (exit 4)
    not_sent_reasons: tuple[str, ...] = ()  # locations whose daily budget is spent (exit 5)
    warnings: int = 0
    resumed: int = 0  # rows already final in the journal: no request for them
    rendered: bool = True  # False after a second Ctrl-C: the journal has it all, no result file
    ok: frozenset[Status] = field(default=IMPORT_OK)
    run_id: str = ""
    started_at: str = ""  # ISO 8601, UTC
    input_size: int = 0
    input_sha256: str = ""
    #: Per location: requests this run sent, and the day's budget left as the API last said.
    budgets: dict[str, dict[str, int | None]] = field(default_factory=dict)
    plan: Plan | None = None  # a dry run's forecast of the real run
    #: Requests before sending, by purpose (associations, look-ups, record checks...).
    purposes: dict[str, int] = field(default_factory=dict)
    kind: str = "import"  # or "undo"
    workbook: bool = False  # results_format xlsx or both: an Excel twin of the result file
    #: False for a run the same command cannot resume (a dry run; the built-in sandbox).
    resumable: bool = True
    #: Files that could not be written (result CSV, workbook, summary.json): exit 6. Nothing
    #: is lost: the journal holds every outcome, and the same command writes them.
    unwritten: tuple[str, ...] = ()
    #: --mirror: the deletions' statuses (``deleted``, ``gone``...; a dry run's ``valid``).
    deletions: dict[Status, int] = field(default_factory=dict)
    outside: int = 0  # rows left out by --rows / --limit: not_sent, but not a failure
    #: The settings that shaped the run (columns, look-ups, association, locations...): a run
    #: given its result file back (--only, undo) uses them unless told otherwise.
    settings: dict[str, object] = field(default_factory=dict)
    window: str = ""  # those options as typed ("--rows 100-250 --limit 5")

    def as_json(self, resume_command: str | None = None) -> dict[str, object]:
        """``summary.json``: what a scheduler needs to tell the outcome, without the CSV."""
        code = self.exit_code
        return {
            "run_id": self.run_id,
            "title": self.title,
            "started_at": self.started_at,
            "seconds": round(self.elapsed, 3),
            "dry_run": self.dry_run,
            "input": {
                "path": str(self.input_path),
                "size": self.input_size,
                "sha256": self.input_sha256,
            },
            "results": str(self.result_path) if self.written else None,
            "rows": self.rows,
            "counts": {status.value: n for status, n in self.counts.items()},
            "outside_range": self.outside,
            "rows_chosen": self.window or None,
            "resumed": self.resumed,
            "requests": self.requests,
            "requests_by_purpose": self.by_purpose(),
            "rate_limited": self.rate_limited,
            "budgets": self.budgets,
            "exit_code": code,
            "outcome": OUTCOMES[code],
            "stopped_because": self.stopped
            or next(iter(self.not_sent_reasons), None)
            or ("interrupted (Ctrl-C or SIGTERM)" if self.interrupted else None),
            "not_written": list(self.unwritten),
            "resume_command": resume_command
            if code in RESUMABLE and (self.resumable or code == EXIT_UNWRITTEN)
            else None,
            "plan": self.plan.as_json() if self.plan is not None else None,
            "mirror": {status.value: n for status, n in self.deletions.items()}
            if self.deletions
            else None,
            "settings": self.settings,
        }

    def by_purpose(self) -> dict[str, int]:
        """Every request of the run by purpose; what is not a look-up is the run's writes."""
        writes = "deletes" if self.kind == "undo" else "creates"
        before = sum(self.purposes.values())
        return {**self.purposes, writes: self.requests - before}

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    @property
    def written(self) -> bool:
        """The result CSV holds this run's results."""
        return self.rendered and str(self.result_path) not in self.unwritten

    @property
    def exit_code(self) -> int:
        if self.unwritten:
            return EXIT_UNWRITTEN
        if self.stopped is not None:
            return EXIT_STOPPED
        if self.interrupted:
            return EXIT_INTERRUPTED
        counts = self.counts_inside
        unsent = counts.get(Status.NOT_SENT) or self.deletions.get(Status.NOT_SENT)
        if self.not_sent_reasons and unsent:
            return EXIT_BUDGET
        fine = self.ok | ({Status.VALID} if self.dry_run else set())
        deleted = fine | {Status.DELETED, Status.GONE}
        if not all(status in deleted for status in self.deletions):
            return EXIT_PARTIAL
        if not all(status in fine for status, n in counts.items() if n):
            return EXIT_PARTIAL
        if self.plan is not None and not all(x.fits_today for x in self.plan.locations):
            return EXIT_OVER_BUDGET  # a dry run of good rows whose real run will not fit today
        return EXIT_OK

    @property
    def counts_inside(self) -> dict[Status, int]:
        """The counts but the rows that --rows / --limit left out (a trial of 5 rows that
        all worked is a success: the rest were not asked for)."""
        if not self.outside:
            return self.counts
        return {**self.counts, Status.NOT_SENT: self.counts.get(Status.NOT_SENT, 0) - self.outside}


#: What a run remembers of its settings, in its summary.json (see :func:`remembered_settings`).
REMEMBERED = (
    "target",
    "location_id",
    "location_column",
    "association",
    "association_column",
    "first_column",
    "second_column",
    "first_lookup",
    "second_lookup",
    "swap",
    "phone_region",
    "sheet",
    "header_row",
    "no_header",
    "split",
)
#: Those that a run given a result file back with --only uses (the file is a CSV whose header
#: is its first row, one id per cell: how the original input was read does not apply).
FOR_ONLY = REMEMBERED[:11]
#: Those that undo uses: where the relations are.
FOR_UNDO = ("target", "location_id", "location_column")


def remembered_settings(result_path: Path, keys: Iterable[str]) -> dict[str, object]:
    """The ``keys`` of the settings the run that wrote ``result_path`` kept in its
    summary.json ({} when there is none, as for a file made by an earlier version)."""
    try:
        data = json.loads(summary_path(result_path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    settings = data.get("settings") if isinstance(data, dict) else None
    if not isinstance(settings, dict):
        return {}
    return {key: settings[key] for key in keys if settings.get(key) not in (None, "")}


def plan_path(result_path: Path) -> Path:
    """``results/x-dry-run.csv`` -> ``results/x-dry-run.plan.json``."""
    return result_path.with_name(f"{result_path.stem}.plan.json")


def workbook_path(result_path: Path) -> Path:
    """``results/x-results.csv`` -> ``results/x-results.xlsx`` (results_format xlsx, both)."""
    return result_path.with_suffix(".xlsx")


def summary_path(result_path: Path) -> Path:
    """``results/x-results.csv`` -> ``results/x-results.summary.json``."""
    return result_path.with_name(f"{result_path.stem}.summary.json")
