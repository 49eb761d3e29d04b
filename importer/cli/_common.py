"""What every command shares: settings with their notices, the JSON outcome, the one-line
failure (exit 2).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from importer.cli._language import say
from importer.config import Settings, load_settings
from importer.errors import RelimportError
from importer.models import (
    EXIT_NOT_STARTED,
)

LOG = logging.getLogger("relimport")


def load(config_path: Path | None, quiet: bool = False, **flags: Any) -> Settings:
    settings = load_settings(config_path=config_path, flags=flags)
    for notice in () if quiet else settings.notices:
        say(notice, err=True)
    return settings


def json_output() -> bool:
    context = click.get_current_context(silent=True)
    return bool(context is not None and context.meta.get("relimport.json"))


def print_json(outcome: dict[str, object]) -> None:
    click.echo(json.dumps(outcome, ensure_ascii=False))


def fail(error: RelimportError) -> None:
    """Exit 2: nothing was sent. The one line says what and where; the log gets it too."""
    say(f"Error: {error}", err=True)
    if json_output():
        print_json({"exit_code": EXIT_NOT_STARTED, "outcome": "not_started", "error": str(error)})
    LOG.error("%s", error, extra={"event": "not_started", "exit_code": EXIT_NOT_STARTED})
    sys.exit(EXIT_NOT_STARTED)


#: Open files wanted at the most: a run holds a lock file and a few connections per location
#: it writes (up to 1,000 locations in one file), beyond the 1,024 many systems allow at first.
OPEN_FILES = 65_536


def raise_open_file_limit() -> int:
    """Raise this process's soft limit of open files towards :data:`OPEN_FILES` (never past
    the hard limit the system sets), as Go programs do at start; the limit after."""
    try:
        import resource  # Unix only
    except ImportError:
        return -1
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = OPEN_FILES if hard == resource.RLIM_INFINITY else min(OPEN_FILES, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):  # not allowed here: keep what there is
            return soft
        return wanted
    return soft
