"""``--mirror``: the association's relations made to match the file, for what relimport made.

A pair the ledger says an earlier run created (``made_by`` ``relimport``) and that the file no
longer holds is deleted (``DELETE /associations/relations/{relationId}``). Relations relimport
did not create are never touched, whatever the file says. Deletions are capped: more than
``max_deletes`` (default 100, and never more than 10 % of the ledger's pairs of the
association unless ``max_deletes`` is set) stops the run before anything is sent.

The deletions are planned before the first request of the run and kept in its journal after
the file's rows (positions ``rows``, ``rows + 1``...), so a resumed run deletes exactly what
the first planned, and they are written to ``<out>-deleted.csv`` (undo's result columns).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from importer.config import Settings
from importer.errors import ConfigError
from importer.models import IN_DOUBT, Association, Outcome, Pair, SourceRow, Status
from importer.report import ResultWriter
from importer.run._journal import Entry, Journal
from importer.run._sender import Job, Sender, Tally
from importer.run._undo import Deleter
from importer.state import RELIMPORT, Ledger

DEFAULT_MAX = 100
SHARE = 0.10
PLANNED = "mirror_planned"  # error code of a deletion planned and not yet sent


@dataclass(frozen=True, slots=True)
class Deletion:
    pair: Pair
    relation_id: str


def plan_deletions(
    ledger: Ledger,
    association_id: str,
    association_key: str,
    in_file: set[Pair],
    max_deletes: int | None,
) -> list[Deletion]:
    """The relations relimport created that the file no longer holds; ConfigError when they
    are more than the cap allows (nothing has been sent)."""
    held = 0
    deletions = []
    for pair, known in ledger.pairs(association_id):
        held += 1
        if known.made_by == RELIMPORT and known.relation_id and pair not in in_file:
            deletions.append(Deletion(pair, known.relation_id))
    if max_deletes is not None:
        cap, why = max_deletes, "--max-deletes"
    else:
        cap = min(DEFAULT_MAX, math.floor(held * SHARE))
        why = f"at most {DEFAULT_MAX}, and 10 % of the {held} pairs the ledger holds for it"
    if len(deletions) > cap:
        raise ConfigError(
            f"--mirror would delete {len(deletions)} relations of the association "
            f"{association_key} (pairs relimport created that the file no longer holds), more "
            f"than the cap of {cap} ({why}). Nothing was sent. Check that the file is the whole "
            f"export; if it is, run again with --max-deletes {len(deletions)}."
        )
    return deletions


class Mirror:
    """The deletions of one run: planned before it sends, kept in its journal after the file's
    rows (from position ``first_seq``), sent after the creates, written out at the end."""

    def __init__(self, settings: Settings) -> None:
        if settings.location_column or settings.association_column:
            raise ConfigError(
                "--mirror works on a file of one location and one association; this one "
                "names them per row (location_column, association_column). Split the file, or "
                "leave --mirror off."
            )
        if not settings.ledger:
            raise ConfigError(
                "--mirror needs the ledger (it knows which relations relimport created): "
                "leave --no-ledger off, or set ledger: true."
            )
        self.max_deletes = settings.max_deletes
        self.first_seq = 0
        self.planned: list[Deletion] = []
        self.requests: Counter[str] = Counter()  # location -> delete requests
        self.counts: dict[Status, int] = {}

    def plan(
        self,
        ledger: Ledger,
        association: Association,
        resolved: Iterable[Pair | Outcome],
    ) -> str | None:
        """Plan the deletions (ConfigError over the cap); a notice when none may be made."""
        in_file: set[Pair] = set()
        blocked = 0
        for found in resolved:
            if isinstance(found, Pair):
                in_file.add(found)
            elif found.status in (Status.UNRESOLVED, Status.AMBIGUOUS):
                blocked += 1
        if blocked:
            return (
                f"--mirror: nothing is deleted this run: {blocked} rows could not be resolved "
                "to records (unresolved or ambiguous), and a relation they name could be "
                "deleted by mistake."
            )
        self.planned = plan_deletions(
            ledger, association.id, association.key, in_file, self.max_deletes
        )
        return None

    def keep(self, journal: Journal) -> None:
        """Write the plan into the journal (a resume finds it there and plans nothing)."""
        for offset, deletion in enumerate(self.planned):
            planned = Outcome(
                Status.NOT_SENT,
                relation_id=deletion.relation_id,
                error_code=PLANNED,
                error="planned by --mirror; not deleted yet",
                first_id=deletion.pair.first_id,
                second_id=deletion.pair.second_id,
            )
            journal.record(self.first_seq + offset, 0, planned, durable=False)
        journal.flush()

    def kept(self, journal: Journal) -> list[Entry]:
        """The deletions a journal holds, in order ([] when none were planned)."""
        return [e for e in journal.entries() if e.seq >= self.first_seq and e.outcome]

    def jobs(
        self, journal: Journal, location: str, association_id: str, *, dry_run: bool
    ) -> Iterator[Job]:
        """The deletions still to make (a dry run records what it would delete instead)."""
        for entry in self.kept(journal):
            planned = entry.outcome
            assert planned is not None
            if entry.final or not planned.relation_id:  # never a create: only ids deleted
                continue
            if dry_run:
                would = replace(
                    planned, status=Status.VALID, error_code="", error="would be deleted"
                )
                journal.record(entry.seq, 0, would, durable=False)
                continue
            pair = Pair(planned.first_id, planned.second_id)
            yield Job(
                entry.seq,
                0,
                location,
                association_id,
                pair,
                in_doubt=entry.intent,
                relation_id=planned.relation_id,
            )

    def confirmed(self, job: Job, outcome: Outcome, ledger: Ledger | None) -> None:
        """A deletion's outcome: the ledger forgets a relation deleted or gone."""
        self.requests[job.location_id] += outcome.attempts
        if ledger is not None and outcome.status in (Status.DELETED, Status.GONE):
            ledger.forget_relation(job.relation_id)

    def render(self, out: Path, journal: Journal, *, dry_run: bool) -> str:
        """Write ``<out>-deleted.csv``; the line that tells a person."""
        outcomes = []
        for entry in self.kept(journal):
            assert entry.outcome is not None
            outcome = entry.outcome
            if entry.intent and not entry.final:
                outcome = replace(outcome, in_doubt=True, error=f"{outcome.error} ({IN_DOUBT})")
            outcomes.append(outcome)
        self.counts = write_deleted(out, outcomes)
        if dry_run:
            would = self.counts.get(Status.VALID, 0)
            return f"--mirror: {would} relations would be deleted: see {deleted_path(out)}"
        done = ", ".join(f"{status.value} {n}" for status, n in sorted(self.counts.items()))
        return f"--mirror: {done or 'nothing to delete'}: see {deleted_path(out)}"


def deleted_path(out: Path) -> Path:
    """``results/x-results.csv`` -> ``results/x-results-deleted.csv``."""
    return out.with_name(f"{out.stem}-deleted{out.suffix}")


def write_deleted(out: Path, outcomes: Iterable[Outcome]) -> dict[Status, int]:
    """``<out>-deleted.csv``: one row per deletion, undo's result columns."""
    with ResultWriter(deleted_path(out), ()) as writer:
        for seq, outcome in enumerate(outcomes):
            writer.add(seq, SourceRow(seq + 1, ()), outcome)
    return dict(writer.counts)


class MirrorSender(Deleter):
    """Creates the file's pairs and deletes the relations --mirror planned (``relation_id``)."""

    done_word = "written"

    async def _act(self, job: Job, tally: Tally) -> Outcome:
        if job.relation_id:
            return await super()._act(job, tally)
        return await Sender._act(self, job, tally)
