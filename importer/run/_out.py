"""Where a run's result file goes, and what is already there: never the input, never a file
that is not this run's, the earlier run's files set aside on ``--restart``."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from importer.errors import ConfigError
from importer.models import IN_DOUBT, Outcome, SourceRow, Status
from importer.report import ResultWriter, plan_path, summary_path, workbook_path
from importer.run._journal import Identity, journal_path, outcomes, peek


def free_result_path(base: Path, identity: Identity, ephemeral: bool) -> Path:
    """``results/<stem>-<kind>.csv``, numbered: the first that is free or is this run's
    (resumed). The same input changed since is refused by the journal (or --restart).
    ``ephemeral``: a run that keeps no journal (on a sandbox made for it) takes a free one."""
    for number in range(1, 10_000):
        out = base if number == 1 else base.with_name(f"{base.stem}-{number}{base.suffix}")
        journal = journal_path(out)
        if ephemeral:
            if not out.exists():
                return out
            continue
        if not journal.exists():
            if not out.exists():
                return out
            continue
        meta = peek(journal)
        if meta is not None and meta.get("path") == identity.path:
            return out  # this input's run: resume it, or say what changed
    raise ConfigError(f"{base.parent}: too many earlier results; choose --out.")


def check_out(
    out: Path,
    input_path: Path,
    *,
    ephemeral: bool,
    replaced: bool,
    restart: bool,
    notice: Callable[[str], None] | None,
) -> None:
    """Never write over the input, nor over a file that no journal says is this run's.
    ``replaced``: the file is a dry run's own, replaced each time; ``notice`` (a real run's)
    says when a dry run's results are replaced."""
    if out.exists() and out.resolve() == input_path.resolve():
        raise ConfigError(f"{out}: --out is the input file itself. Give the results another name.")
    resumable = journal_path(out).exists() and not ephemeral
    if out.exists() and not resumable and _dry_run_wrote(out):  # validate, then run
        if notice is not None:
            notice(f"{out}: the results of a dry run are replaced by this run's.")
        replaced = True
    if out.exists() and not resumable and not restart and not replaced:
        raise ConfigError(
            f"{out}: a file is already there and is never overwritten. "
            "Choose another --out or move the old file away."
        )


def set_aside(out: Path, journal: Path, notice: Callable[[str], None]) -> None:
    """--restart: keep the earlier run's results and journal under new names.

    A run that was killed before it wrote its result file, or after, has outcomes only its
    journal holds: they are written out first (row numbers and results, no input columns,
    which changed), so that ``undo`` can still remove what that run created.
    """
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    stale = journal.exists()  # the journal is the authority: it may know more
    if out.exists():
        earlier = "-as-written" if stale else ""
        kept = out.with_name(f"{out.stem}.replaced-{stamp}{earlier}{out.suffix}")
        out.rename(kept)
        notice(f"--restart: the earlier {out} is kept as {kept}")
    if stale:
        rendered = out.with_name(f"{out.stem}.replaced-{stamp}{out.suffix}")
        with ResultWriter(rendered, ()) as writer:
            for seq, (number, outcome, intent) in enumerate(outcomes(journal)):
                doubt = Outcome(
                    Status.NOT_SENT,
                    error_code="interrupted",
                    in_doubt=intent,
                    error=f"the earlier run stopped here ({IN_DOUBT})"
                    if intent
                    else "the earlier run stopped before this row",
                )
                writer.add(seq, SourceRow(number, ()), outcome or doubt)
        notice(f"--restart: what the earlier run did is in {rendered}")
    if journal.exists():
        kept = journal.with_name(f"{journal.name}.replaced-{stamp}")
        journal.rename(kept)
        notice(f"--restart: the earlier {journal} is kept as {kept}")
    for beside in (summary_path(out), plan_path(out), workbook_path(out)):
        if beside.exists():  # the earlier run's: never to be read as this run's
            kept = beside.with_name(f"{beside.stem}.replaced-{stamp}{beside.suffix}")
            beside.rename(kept)


def _dry_run_wrote(out: Path) -> bool:
    """``out`` holds a dry run's results (its summary.json says so): nothing to keep."""
    try:
        written = json.loads(summary_path(out).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(written, dict) and written.get("dry_run") is True
