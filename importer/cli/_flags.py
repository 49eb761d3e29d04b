"""Options that several commands share: ``relimport``'s own options, also taken after the
command's name, and ``--rows`` / ``--limit``, the rows a run processes."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import islice
from typing import Any

import click

from importer.models import RowWindow

__all__ = ["RelimportGroup", "hoist_global_options", "window_options"]

#: The options of ``relimport`` itself, also taken after the command (``validate f.csv --json``).
_GLOBAL_FLAGS = frozenset({"--json"})
_GLOBAL_VALUED = frozenset({"--lang", "--log-file", "--log-format", "--log-level"})


def hoist_global_options(args: list[str], commands: Iterable[str]) -> list[str]:
    """The arguments with the group's own options moved from after the command to before it,
    as people type them (``relimport validate f.csv --json --lang es``). Nothing after ``--``
    moves, nor anything when no command is named."""
    names = set(commands)
    at, index = None, 0
    while index < len(args) and at is None:  # the command: the first name not an option's value
        if args[index] in names:
            at = index
        index += 2 if args[index] in _GLOBAL_VALUED else 1
    if at is None:
        return args
    moved: list[str] = []
    kept: list[str] = []
    rest = iter(args[at + 1 :])
    for arg in rest:
        if arg == "--":
            kept += [arg, *rest]
            break
        if arg in _GLOBAL_FLAGS or (arg.partition("=")[0] in _GLOBAL_VALUED and "=" in arg):
            moved.append(arg)
        elif arg in _GLOBAL_VALUED:
            moved += [arg, *islice(rest, 1)]
        else:
            kept.append(arg)
    return [*args[:at], *moved, args[at], *kept]


class RelimportGroup(click.Group):
    """The command group: its options are taken before or after the command's name."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        args = hoist_global_options(args, self.commands)
        # known before parsing: a usage error of the group's own is printed as JSON too
        ctx.meta["relimport.json"] = "--json" in args[: args.index("--") if "--" in args else None]
        return super().parse_args(ctx, args)


def window_options(function: Callable[..., Any]) -> Callable[..., Any]:
    function = click.option(
        "--rows",
        metavar="FIRST-LAST",
        callback=_check_rows,
        help="Process only these rows, numbered as your spreadsheet shows them (100-250, 100- "
        "or -250); the others are not_sent (outside_range), and a later run sends them.",
    )(function)
    return click.option(
        "--limit",
        type=click.IntRange(min=1),
        help="Process only the first N data rows (a trial before the whole file); the others "
        "are not_sent (outside_range), and a later run without --limit sends them.",
    )(function)


def _check_rows(_: click.Context, __: click.Parameter, value: str | None) -> str | None:
    try:
        RowWindow.parse(value)
    except ValueError as error:
        raise click.BadParameter(str(error)) from None
    return value
