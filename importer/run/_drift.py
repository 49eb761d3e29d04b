"""The ledger in a run: what settles a row, what goes in, and drift repair.

A pair the ledger holds is settled without a request (``already_exists``, code ``known``).
Every outcome the API confirmed goes in (:func:`made_by` says as what). A resumed run first
gives the ledger again what its journal holds (a process killed between the two writes loses
nothing). Before sending, drift repair re-reads the relations of the records whose entries are
the oldest (:meth:`importer.state.Ledger.due`): pairs still there are confirmed again, pairs
gone are forgotten, so that the rows naming them are created again in the same run.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from importer.api import Client, Retries
from importer.errors import RejectedError
from importer.models import Outcome, Pair, Status
from importer.run._sender import UNVERIFIED
from importer.state import EXISTING, RELIMPORT, Known, Ledger, Ledgers, Side
from importer.validate import pool

KNOWN = "known"  # error code of a row the ledger settled


def known_outcome(known: Known) -> Outcome:
    """The outcome of a row whose pair the ledger holds: no request."""
    return Outcome(
        Status.ALREADY_EXISTS,
        relation_id=known.relation_id,
        error_code=KNOWN,
        error=f"linked already: the API confirmed it on {known.day} (ledger of known "
        "relations): not sent",
    )


def made_by(outcome: Outcome) -> str | None:
    """Who made the relation an outcome confirms, or None when it confirms none. A relation
    found after a lost answer that may have existed before (``unverified``) counts as
    existing: nothing may ever delete it as ours."""
    if not (outcome.first_id and outcome.second_id) or outcome.in_doubt:
        return None
    if outcome.status is Status.CREATED:
        return EXISTING if outcome.error_code == UNVERIFIED else RELIMPORT
    if outcome.status is Status.ALREADY_EXISTS and outcome.error_code != KNOWN:
        return EXISTING
    return None


@dataclass
class Repair:
    """What drift repair did in one run."""

    records: int = 0  # records whose relations were read
    confirmed: int = 0  # pairs found still there
    forgotten: int = 0  # pairs gone from the server, forgotten
    refused: int = 0  # records the API refused to read (their entries left as they were)

    def add(self, other: Repair) -> None:
        self.records += other.records
        self.confirmed += other.confirmed
        self.forgotten += other.forgotten
        self.refused += other.refused

    def notices(self) -> list[str]:
        """What a person should hear of it."""
        lines = []
        if self.forgotten:
            lines.append(
                f"Ledger: {self.forgotten} relations it knew are gone from the CRM (deleted "
                "since): the rows that name them are sent again."
            )
        if self.refused:
            lines.append(
                f"Ledger: the API refused to read the relations of {self.refused} records; "
                "their entries are kept as they are."
            )
        return lines


async def repair_scopes(
    client: Client,
    retries: Retries,
    ledgers: Ledgers,
    scopes: Iterable[tuple[str, str]],
    verify_days: int,
    concurrency: int,
) -> Repair:
    """Drift repair of each (location, association id): the records that are due
    (``verify_days`` 1: every record)."""
    done = Repair()
    for location, association_id in sorted(scopes):
        ledger = ledgers.get(location)
        side = ledger.side(association_id) if ledger is not None else None
        if ledger is None or side is None:
            continue
        due = ledger.due(association_id, side, verify_days)
        done.add(
            await repair(client, retries, ledger, location, association_id, side, due, concurrency)
        )
    return done


async def repair(
    client: Client,
    retries: Retries,
    ledger: Ledger,
    location: str,
    association_id: str,
    side: Side,
    records: list[str],
    concurrency: int,
) -> Repair:
    """Read every relation of these records (on ``side``) and set the ledger right."""
    done = Repair()

    async def one(record_id: str) -> None:
        async def listing() -> dict[Pair, str]:
            found = client.relations_of(location, association_id, record_id)
            return {pair: relation_id async for pair, relation_id in found}

        try:
            on_server = await retries(listing)
        except RejectedError:  # the API cannot tell: the entries stay as they are
            done.refused += 1
            return
        gone = []
        for pair, _ in ledger.pairs_of(association_id, side.column, record_id).items():
            if pair in on_server:
                ledger.confirm(association_id, pair, on_server[pair], EXISTING)
                done.confirmed += 1
            else:
                gone.append(pair)
        if gone:
            ledger.forget(association_id, gone)
        done.records += 1
        done.forgotten += len(gone)

    await pool(records, one, concurrency)
    return done
