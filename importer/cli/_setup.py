"""``relimport doctor`` and ``relimport init``: before the first run, and before each night's.

``doctor`` prints one line per check of :func:`importer.setup.diagnose`; ``init`` writes a
config file from flags, answers and the guesses of :mod:`importer.setup`. The helpers
of :mod:`importer.cli` are imported inside the commands: ``cli`` imports this module.
"""

from __future__ import annotations

import asyncio
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from importer.cli._common import fail, load
from importer.config import FLAGS, SANDBOX, Settings, describe_settings, load_settings
from importer.errors import ConfigError, RelimportError
from importer.i18n import translate
from importer.models import EXIT_NOT_STARTED, EXIT_OK, Association
from importer.setup import (
    API_URL,
    Finding,
    Proposal,
    Samples,
    best,
    describe,
    diagnose,
    fetch_associations,
    fetch_schema,
    holds_ids,
    propose,
    propose_lookup,
    propose_property,
    refusal,
    render_config,
    sample_columns,
    write_config,
)
from importer.validate import column_index

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def _setting(key: str) -> Decorator:
    """The option of a setting: its flag and, as help, its description in the settings model."""
    descriptions = {name: description for name, _, _, description in describe_settings()}
    return click.option(FLAGS.get(key, "--" + key.replace("_", "-")), key, help=descriptions[key])


def format_finding(finding: Finding) -> str:
    return f"{'ok' if finding.ok else 'problem':<8} {finding.check}: {finding.message}"


@click.command()
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    help="Config file (default: ./config.yaml when present).",
)
@_setting("target")
@_setting("location_id")
@_setting("association")
def doctor(config_path: Path | None, **flags: Any) -> None:
    """Check that a run would start, with a few requests that write nothing.

    One line per check: the token, the location, the scopes a run needs, the association,
    the rate limit and the day's budget left. Exit 0 when a run would start, 2 otherwise.
    The token is never printed.
    """
    from importer.cli._language import say

    try:
        settings = load(config_path, **flags)
    except RelimportError as error:
        fail(error)
        return
    findings = asyncio.run(diagnose(settings))
    for finding in findings:
        say(format_finding(finding))
    if all(finding.ok for finding in findings):
        say("A run would start.")
        sys.exit(EXIT_OK)
    say("A run would not start: fix the problems above, then run relimport doctor again.")
    sys.exit(EXIT_NOT_STARTED)


@click.command()
@click.argument("input_path", metavar="[INPUT]", required=False, type=click.Path(path_type=Path))
@click.option(
    "--base-url",
    "target",
    help=f"'sandbox' (the default, as for run) or the API's base URL, e.g. {API_URL}.",
)
@_setting("location_id")
@_setting("association")
@_setting("first_column")
@_setting("second_column")
@_setting("sheet")
@click.option(
    "--out",
    "out_path",
    type=click.Path(path_type=Path),
    default=Path("config.yaml"),
    show_default=True,
    help="The config file to write.",
)
@click.option("--force", is_flag=True, help="Replace the file at --out if there is one.")
@click.option(
    "--interactive/--no-interactive",
    default=None,
    help="Ask for what the flags leave open (default: when run in a terminal); without it, "
    "a missing value that cannot be guessed stops init, naming its flag.",
)
def init(
    input_path: Path | None,
    out_path: Path,
    force: bool,
    interactive: bool | None,
    **flags: str | None,
) -> None:
    """Write a commented config file for an account, guessed from INPUT and the location.

    Lists the location's associations and proposes the id columns from INPUT's header and
    the shapes of its first ids. The token is read from the environment (LEADWAY_TOKEN),
    never written to the file.
    """
    from importer.cli._language import say

    asking = sys.stdin.isatty() if interactive is None else interactive
    try:
        if out_path.exists() and not force:  # before any question or request
            raise ConfigError(refusal(out_path))
        settings = _initial(input_path, flags, asking)
        render = render_config(settings)
        write_config(out_path, render, force=force)
    except RelimportError as error:
        fail(error)
        return
    config = [] if out_path == Path("config.yaml") else ["--config", str(out_path)]
    say(
        f"Wrote {out_path}: location {settings.location_id}, association {settings.association}, "
        f"first_column {settings.first_column!r}, second_column {settings.second_column!r}.\n"
        f"The token stays in ${settings.token_env}; it is not in the file. Next:\n"
        f"  {shlex.join(['relimport', 'doctor', *config])}"
    )
    if input_path is not None:
        say(f"  {shlex.join(['relimport', 'validate', str(input_path), *config])}")


def _load(flags: dict[str, str | None]) -> Settings:
    """Settings from the flags and the environment only: init starts from no file (the one in
    this folder may be another account's, or the demo's)."""
    return load_settings(config_path=Path(os.devnull), flags=flags)


def _initial(input_path: Path | None, flags: dict[str, str | None], asking: bool) -> Settings:
    """The settings to write: the flags, then what is guessed or answered for the rest."""
    if not flags["target"]:
        flags["target"] = (
            click.prompt(_asked("API base URL"), default=SANDBOX) if asking else SANDBOX
        )
    settings = _load(flags)
    if not settings.location_id:
        flags["location_id"] = _ask(
            asking,
            "--location-id",
            "No location given.",
            "Location (sub-account) id",
            None,
        )
        settings = _load(flags)
    known, chosen = asyncio.run(fetch_associations(settings))
    sheet = flags.get("sheet")  # a workbook's sheet of relations, not its first (instructions?)
    samples = sample_columns(input_path, sheet=sheet) if input_path is not None else None
    if samples is not None:
        for role in ("first", "second"):
            given = flags[f"{role}_column"]
            if given:  # the header's own spelling
                at = column_index(samples.header, given, str(input_path), role)
                flags[f"{role}_column"] = samples.header[at]
    candidates = [chosen] if chosen else known
    proposals = (
        propose(
            samples,
            candidates,
            first_column=flags["first_column"],
            second_column=flags["second_column"],
        )
        if samples is not None
        else []
    )
    if chosen is None:
        chosen = _choose_association(known, proposals, samples is not None, asking)
        flags["association"] = chosen.key or chosen.id
        proposals = [p for p in proposals if p.association == chosen]
    guess = best(proposals)
    for role, label in (
        ("first", chosen.first_object_label),
        ("second", chosen.second_object_label),
    ):
        if not flags[f"{role}_column"]:
            flags[f"{role}_column"] = _choose_column(role, label, samples, guess, asking)
    if samples is not None:  # e-mail addresses or phone numbers of contacts: looked up
        for role, object_key in (
            ("first", chosen.first_object_key),
            ("second", chosen.second_object_key),
        ):
            column = flags[f"{role}_column"] or ""
            values = samples.values.get(column, ())
            flags[f"{role}_lookup"] = propose_lookup(values, object_key)
            if (
                object_key.startswith("custom_objects.")
                and values
                and not holds_ids(values, object_key)
            ):  # a custom object's property, named by the column's title
                flags[f"{role}_lookup"] = _choose_property(
                    settings, role, column, object_key, asking
                )
    return _load(flags)


def _choose_property(
    settings: Settings, role: str, column: str, object_key: str, asking: bool
) -> str:
    """The property of a custom object a column of non-ids holds: the one its title names,
    else asked on a terminal, else ``id`` with the properties listed for the user to choose."""
    from importer.cli._language import say

    schema = asyncio.run(fetch_schema(settings, object_key))
    if schema is None:
        return "id"
    found = propose_property(column, schema)
    if found is not None and not asking:
        return found
    keys = [p.key for p in schema.properties]
    if asking:
        question = f"Property of {object_key} that column '{column}' holds ({role}_lookup)"
        kind = click.Choice(["id", *keys])
        return str(click.prompt(_asked(question), default=found or "id", type=kind))
    say(
        f"The column '{column}' does not hold {object_key} ids: set {role}_lookup in the file "
        f"to the property it holds, one of {', '.join(keys)}.",
        err=True,
    )
    return "id"


def _ask(
    asking: bool,
    flag: str,
    problem: str,
    question: str,
    default: str | None,
    choices: Sequence[str] = (),
) -> str:
    """The answer to ``question``, or ConfigError naming ``flag`` when nobody can be asked."""
    if not asking:
        raise ConfigError(f"{problem} Give {flag}.")
    kind = click.Choice(list(choices)) if choices else click.STRING
    return str(click.prompt(_asked(question), default=default, type=kind, show_choices=False))


def _asked(question: str) -> str:
    """A question of init on a terminal, in the user's language."""
    from importer.cli._language import language

    return translate(question, language())


def _choose_association(
    known: list[Association], proposals: list[Proposal], has_input: bool, asking: bool
) -> Association:
    guess = best(proposals)
    if guess is not None and not asking:
        return guess.association
    names = ", ".join(a.key or a.id for a in known) or "none"
    fitting = list(dict.fromkeys(p.association.key for p in proposals))
    if not has_input:
        problem = "No association given, and no INPUT to guess it from."
    elif not fitting:
        problem = "No association of the location fits the ids in INPUT's columns."
    else:
        problem = f"Several associations fit the ids in INPUT: {', '.join(fitting)}."
    if asking:
        from importer.cli._language import say

        say("Associations of the location:")
        for association in known:
            click.echo(f"  {describe(association)}")  # data
    answer = _ask(
        asking,
        f"--association: one of {names}",
        problem,
        "Association (key or id)",
        guess.association.key if guess else None,
        [*(a.key for a in known), *(a.id for a in known if a.id not in {b.key for b in known})],
    )
    return next(a for a in known if answer in (a.key, a.id))


def _choose_column(
    role: str, label: str, samples: Samples | None, guess: Proposal | None, asking: bool
) -> str:
    default = getattr(guess, f"{role}_column") if guess else None
    if default is not None and not asking:
        return str(default)
    if samples is None:
        problem = f"No {role} column given, and no INPUT to guess it from."
        flag = f"--{role}-column (the column holding the {label} ids)"
    else:
        problem = f"Which column of INPUT holds the {role} ids ({label})?"
        columns = ", ".join(repr(name) for name in samples.header)
        flag = f"--{role}-column: one of {columns}"
    return _ask(
        asking,
        flag,
        problem,
        f"Column of the {role} ids ({label})",
        default,
        samples.header if samples is not None else (),
    )
