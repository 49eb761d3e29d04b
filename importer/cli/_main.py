"""The ``relimport`` command: parse, load settings, draw progress, print, return an exit code.

Exit codes: 0 every row created or already there; 1 finished, but some rows are invalid,
failed or not sent; 2 nothing was sent (usage, config, input or auth problem found first);
3 the run stopped part-way on a fatal error; 4 interrupted (Ctrl-C, SIGTERM), resumable;
5 a location's daily budget is spent, resumable; 6 the results could not be written (the
journal has them), resumable; 7 a dry run (validate) whose rows are all
fine but whose real run does not fit in a location's budget left today.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from importer import logs
from importer.api import list_associations
from importer.cli._common import fail, load, raise_open_file_limit
from importer.cli._flags import RelimportGroup, window_options
from importer.cli._language import language, remember_language, say, speak_to_everyone
from importer.cli._sandbox import sandbox
from importer.cli._setup import doctor, init
from importer.cli._terminal import execute, starter
from importer.config import Settings, load_settings
from importer.errors import RelimportError
from importer.i18n import (
    LANGUAGE_VARIABLE,
    LANGUAGES,
    choose_language,
    translate,
)
from importer.models import (
    RowWindow,
    Status,
)
from importer.report import (
    FOR_ONLY,
    FOR_UNDO,
    remembered_settings,
)
from importer.run import run_import, run_undo


def _common(function: Callable[..., Any]) -> Callable[..., Any]:
    options = [
        click.option(
            "--config",
            "config_path",
            type=click.Path(path_type=Path),
            help="Config file (default: ./config.yaml when present).",
        ),
        click.option("--base-url", "target", help="'sandbox' (the default) or the API's base URL."),
        click.option("--location-id", help="The location (sub-account) id."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _input_options(function: Callable[..., Any]) -> Callable[..., Any]:
    options: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
        click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path)),
        _common,
        click.option("--association", help="Association key or id."),
        click.option("--first-column", help="Column holding the first record ids."),
        click.option("--second-column", help="Column holding the second record ids."),
        click.option("--sheet", help="Sheet to read in a workbook (default: the first)."),
        click.option("--encoding", help="CSV encoding (default: detected)."),
        click.option(
            "--header-row",
            type=click.IntRange(min=1),
            help="Row holding the column titles, as your spreadsheet numbers it (default: the "
            "first row with a value).",
        ),
        click.option(
            "--no-header",
            is_flag=True,
            default=None,
            help="The file has no header row: name columns by letter (A, B...) or position.",
        ),
        click.option(
            "--out",
            type=click.Path(path_type=Path),
            help="Result CSV (default: results/<input>-results.csv, or -dry-run.csv; an existing "
            "file is only ever this run's own, resumed).",
        ),
        click.option(
            "--concurrency",
            type=int,
            help="Requests in flight at once, per location (1-64, default 8).",
        ),
        click.option(
            "--split",
            metavar="CHARACTER",
            help="Cells may hold several ids separated by CHARACTER (such as ';'): one "
            "relation per id, each with the row's number.",
        ),
        click.option(
            "--strict-ids/--no-strict-ids",
            default=None,
            help="Treat ids of an unexpected shape as invalid, not as warnings.",
        ),
        click.option(
            "--first-lookup",
            help="What the first column holds: id (default), email or phone (contacts), or a "
            "property name (custom objects).",
        ),
        click.option("--second-lookup", help="What the second column holds (as --first-lookup)."),
        click.option("--location-column", help="Column holding each row's location id."),
        click.option("--association-column", help="Column naming each row's association."),
        click.option(
            "--check-records/--no-check-records",
            default=None,
            help="Check that every record exists and is of the right kind before sending.",
        ),
        click.option(
            "--skip-existing/--no-skip-existing",
            default=None,
            help="Read existing relations first and skip them, when that costs less.",
        ),
        click.option(
            "--ledger/--no-ledger",
            default=None,
            help="Settle the pairs the ledger of known relations holds without a request, and "
            "note every confirmed one in it (default on; see state_dir).",
        ),
        click.option(
            "--mirror/--no-mirror",
            default=None,
            help="Also delete the relations earlier runs created that the file no longer "
            "holds (never one relimport did not create).",
        ),
        click.option(
            "--max-deletes",
            type=int,
            metavar="N",
            help="--mirror stops before sending when it would delete more than N relations "
            "(default 100, and at most 10% of the ledger's pairs of the association).",
        ),
        click.option(
            "--swap/--no-swap",
            default=None,
            help="The first column holds the association's second side, and back.",
        ),
        click.option(
            "--order-check/--no-order-check",
            default=None,
            help="Stop before sending when the ids show the columns are swapped (default on).",
        ),
        click.option(
            "--results-format",
            type=click.Choice(["csv", "xlsx", "both"]),
            help="csv (default); xlsx or both: also an Excel workbook beside the CSV (the CSV "
            "stays: resume, --only and undo read it).",
        ),
        click.option("--quiet", is_flag=True, help="Print nothing but errors."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _remembered(
    result_path: Path,
    keys: tuple[str, ...],
    config_path: Path | None,
    flags: dict[str, Any],
    quiet: bool,
) -> dict[str, Any]:
    """``flags`` with the settings that the run which wrote ``result_path`` remembers, where
    no flag gives them (they beat config.yaml: the file is that run's). Those that differ
    from the settings otherwise in force are named on stderr."""
    remembered = remembered_settings(result_path, keys)
    if not remembered:
        return flags
    otherwise = load_settings(config_path=config_path, flags=flags)
    found = {
        key: value
        for key, value in remembered.items()
        if flags.get(key) is None and getattr(otherwise, key) != value
    }
    if found and not quiet:
        shown = ", ".join(f"{key} {value!r}" for key, value in found.items())
        say(
            f"{result_path}: using the settings of the run that wrote it: {shown} "
            "(a flag overrides any of them).",
            err=True,
        )
    return {**flags, **found}


@click.group(cls=RelimportGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="relimport")
@click.option(
    "--log-file",
    type=click.Path(path_type=Path),
    help="Append events to this file (one per request at debug level).",
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="One line of text, or one JSON object, per event.",
)
@click.option(
    "--log-level",
    type=click.Choice(["info", "debug"]),
    default="debug",
    show_default=True,
    help="debug: every request; info: runs only.",
)
@click.option(
    "--json",
    "json_output",
    is_flag=True,
    help="Print the outcome as one JSON object on stdout (summary.json's content, or the "
    "error of a run that did not start); messages stay on stderr.",
)
@click.option(
    "--lang",
    type=click.Choice(LANGUAGES),
    is_eager=True,
    callback=remember_language,
    help=f"Language of messages and the summary: en or es (default: ${LANGUAGE_VARIABLE}, "
    "else the locale). Files stay English.",
)
@click.pass_context
def main(
    ctx: click.Context,
    log_file: Path | None,
    log_format: str,
    log_level: str,
    json_output: bool,
    lang: str | None,
) -> None:
    """Create relations in bulk in Leadway CRM from CSV and Excel files."""
    ctx.meta["relimport.lang"] = choose_language(lang, os.environ)
    ctx.meta["relimport.json"] = json_output
    raise_open_file_limit()  # a lock and a pool of connections per location
    if log_file is not None:
        try:
            logs.configure(log_file, log_format, log_level)
        except RelimportError as error:
            fail(error)


def _statuses(_: click.Context, __: click.Parameter, value: str | None) -> frozenset[Status] | None:
    if value is None:
        return None
    names = [name.strip() for name in value.split(",") if name.strip()]
    known = {status.value for status in Status}
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise click.BadParameter(
            f"unknown status {', '.join(map(repr, unknown)) or 'list'}; use a comma-separated "
            f"list of {', '.join(sorted(known))}"
        )
    return frozenset(Status(name) for name in names)


def _rerun_options(function: Callable[..., Any]) -> Callable[..., Any]:
    function = click.option(
        "--only",
        callback=_statuses,
        metavar="STATUS[,STATUS...]",
        help="INPUT is a result file: process only its rows with these statuses "
        "(e.g. failed,not_sent), keeping their row numbers.",
    )(function)
    return click.option(
        "--restart",
        is_flag=True,
        help="Start over although a journal of an earlier run is there (it is kept aside).",
    )(function)


def _wait_lock(function: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--wait-lock",
        type=click.FloatRange(min=0),
        metavar="SECONDS",
        help="When another run holds the result file or a location, wait this long for it "
        "(default 0: stop at once, exit 2).",
    )(function)


@main.command()
@_input_options
@_rerun_options
@_wait_lock
@window_options
@click.option("--dry-run", is_flag=True, help="Read and validate only; send no write request.")
def run(
    input_path: Path,
    config_path: Path | None,
    quiet: bool,
    dry_run: bool,
    restart: bool,
    only: frozenset[Status] | None,
    limit: int | None,
    rows: str | None,
    **flags: Any,
) -> None:
    """Import the relations listed in INPUT (CSV, TSV, TXT, XLSX, XLSM, XLS, XLSB or ODS).

    Re-running the same command resumes an interrupted run: rows already settled are not
    sent again.
    """
    _import(
        input_path,
        config_path,
        quiet=quiet,
        dry_run=dry_run,
        restart=restart,
        only=only,
        window=RowWindow.parse(rows, limit),  # --rows checked by its callback
        flags=flags,
    )


@main.command()
@_input_options
@_rerun_options
@window_options
def validate(
    input_path: Path,
    config_path: Path | None,
    quiet: bool,
    restart: bool,
    only: frozenset[Status] | None,
    limit: int | None,
    rows: str | None,
    **flags: Any,
) -> None:
    """Read and validate INPUT without creating anything (same as run --dry-run)."""
    _import(
        input_path,
        config_path,
        quiet=quiet,
        dry_run=True,
        restart=restart,
        only=only,
        window=RowWindow.parse(rows, limit),  # --rows checked by its callback
        flags=flags,
    )


def _import(
    input_path: Path,
    config_path: Path | None,
    *,
    quiet: bool,
    dry_run: bool,
    restart: bool,
    only: frozenset[Status] | None,
    window: RowWindow | None,
    flags: dict[str, Any],
) -> None:
    def settings() -> Settings:
        given = flags
        if only is not None:  # a result file: the settings of the run that wrote it
            given = _remembered(input_path, FOR_ONLY, config_path, flags, quiet)
        return load(config_path, quiet, **given)

    options = {"dry_run": dry_run, "restart": restart, "only": only, "window": window}
    execute(starter(run_import, input_path, settings, options), quiet=quiet)


@main.command()
@click.argument("results_path", metavar="RESULTS_CSV", type=click.Path(path_type=Path))
@_common
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Result file of the undo (default: results/<name>-undo.csv).",
)
@click.option(
    "--concurrency", type=int, help="Requests in flight at once, per location (1-64, default 8)."
)
@click.option("--dry-run", is_flag=True, help="List what would be deleted; delete nothing.")
@_wait_lock
@click.option(
    "--restart", is_flag=True, help="Start over although a journal of an earlier undo is there."
)
@click.option(
    "--include-unverified",
    is_flag=True,
    help="Also delete relations found after a lost answer that may have existed before.",
)
@click.option("--quiet", is_flag=True, help="Print nothing but errors.")
def undo(
    results_path: Path,
    config_path: Path | None,
    quiet: bool,
    dry_run: bool,
    restart: bool,
    include_unverified: bool,
    **flags: Any,
) -> None:
    """Delete exactly the relations that the import of RESULTS_CSV created.

    Only rows with status 'created' and a relation id are undone; relations that existed
    before the import are never touched. Resumable like run.
    """

    def settings() -> Settings:
        given = _remembered(results_path, FOR_UNDO, config_path, flags, quiet)
        return load(config_path, quiet, **given)

    options = {"dry_run": dry_run, "restart": restart, "include_unverified": include_unverified}
    execute(starter(run_undo, results_path, settings, options), quiet=quiet)


@main.command()
@_common
def associations(config_path: Path | None, **flags: Any) -> None:
    """List the location's associations (id, key, both object keys and labels)."""
    try:
        found = list_associations(load(config_path, **flags))
    except RelimportError as error:
        fail(error)
        return
    header = ("ID", "KEY", "FIRST (LABEL)", "SECOND (LABEL)", "TYPE")
    rows = [tuple(translate(name, language()) for name in header)]  # the rest is data
    rows += [
        (
            a.id,
            a.key,
            f"{a.first_object_key} ({a.first_object_label})",
            f"{a.second_object_key} ({a.second_object_label})",
            a.association_type,
        )
        for a in found
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


from importer.cli._ledger import ledger  # noqa: E402
from importer.cli._shard import merge, split  # noqa: E402  (it imports this module's helpers)

main.add_command(sandbox)
main.add_command(doctor)
main.add_command(init)
main.add_command(ledger)
main.add_command(split)
main.add_command(merge)
speak_to_everyone(main)
