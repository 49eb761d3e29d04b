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
