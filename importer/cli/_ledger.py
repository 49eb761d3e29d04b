"""``relimport ledger status|verify|forget``: the ledger of known relations, by hand.

The work is :mod:`importer.setup`'s; this module parses, prints and exits. The
helpers of :mod:`importer.cli` are imported inside the commands: ``cli`` imports this module.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from importer.cli._common import fail, json_output, load, print_json
from importer.cli._language import say
from importer.errors import RelimportError
from importer.models import EXIT_OK
from importer.setup import LedgerFile, forget_ledger, ledger_files, verify_ledger, verify_scope

_CONFIG = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    help="Config file (default: ./config.yaml when present).",
)
_TARGET = click.option(
    "--base-url", "target", help="The API's base URL whose ledger this is (default: target)."
)
_ASSOCIATION = click.option("--association", help="Only this association (key or id).")


@click.group()
def ledger() -> None:
    """The ledger of known relations (in state_dir): see it, verify it, forget it."""


@ledger.command()
@_CONFIG
def status(config_path: Path | None) -> None:
    """Entries per location and association, the oldest confirmation, the file's size."""

    try:
        settings = load(config_path)
        files = ledger_files(settings)
    except RelimportError as error:
        fail(error)
        return
    if json_output():  # what the lines below say, for a script (dates in ISO 8601, UTC)
        print_json({"exit_code": EXIT_OK, "state_dir": str(settings.state_folder),
                    "ledgers": [_ledger_json(found) for found in files]})  # fmt: skip
        return
    if not files:
        say(
            f"No ledger in {settings.state_folder}: a real run writes one there (the built-in "
            "sandbox keeps its ledger in memory, for one run)."
        )
    for found in files:
        say(f"{found.path}: {found.target}, location {found.location}, {found.size} bytes")
        if not found.associations:
            say("  no pairs")
        for a in found.associations:
            oldest = datetime.fromtimestamp(a.oldest or 0, UTC).strftime("%Y-%m-%d %H:%M UTC")
            say(
                f"  {a.key or '?'} ({a.association_id}): {a.pairs} pairs, {a.made_by_relimport} "
                f"created by relimport; oldest confirmation {oldest}"
            )


def _ledger_json(found: LedgerFile) -> dict[str, object]:
    return {
        "path": str(found.path),
        "target": found.target,
        "location": found.location,
        "size": found.size,
        "associations": [
            {
                "association_id": a.association_id,
                "key": a.key,
                "pairs": a.pairs,
                "made_by_relimport": a.made_by_relimport,
                "oldest_confirmation": datetime.fromtimestamp(a.oldest, UTC).isoformat()
                if a.oldest
                else None,
            }
            for a in found.associations
        ],
    }


@ledger.command()
@_CONFIG
@_TARGET
@click.option("--location", help="The location whose ledger to verify (default: location_id).")
@_ASSOCIATION
def verify(
    config_path: Path | None, location: str | None, association: str | None, **flags: Any
) -> None:
    """Re-read now every record's relations: confirm the pairs there, forget the pairs gone."""

    try:
        settings = load(config_path, **flags)
        scope = verify_scope(settings, location, association)
        if not json_output():
            say(
                f"Verifying the ledger of {scope.target}, location {scope.location}: "
                f"{scope.records} records to read, at least {scope.requests} requests."
            )
        done = verify_ledger(settings, scope)
    except RelimportError as error:
        fail(error)
        return
    if json_output():  # what the lines below say, for a script
        print_json(
            {
                "exit_code": EXIT_OK,
                "target": scope.target,
                "location": scope.location,
                "records": done.records,
                "confirmed": done.confirmed,
                "forgotten": done.forgotten,
                "refused": done.refused,
            }
        )
        return
    say(
        f"Verified: {done.records} records read; {done.confirmed} pairs confirmed, "
        f"{done.forgotten} forgotten (gone from the CRM)."
    )
    if done.refused:  # the last notice says so
        say(done.notices()[-1])


@ledger.command()
@_CONFIG
@_TARGET
@click.option("--location", required=True, help="The location whose entries to drop.")
@_ASSOCIATION
def forget(config_path: Path | None, location: str, association: str | None, **flags: Any) -> None:
    """Drop a location's entries (or one association's): the next run sends their pairs again."""

    try:
        dropped = forget_ledger(load(config_path, **flags), location, association)
    except RelimportError as error:
        fail(error)
        return
    if json_output():
        print_json(
            {
                "exit_code": EXIT_OK,
                "location": location,
                "association": association,  # null: every association
                "forgotten": dropped,
            }
        )
        return
    what = f"the association {association}" if association else "every association"
    say(f"Forgot {dropped} pairs of {what} in location {location}.")
