"""What ``relimport`` prints, in the user's language: messages, usage errors and ``--help``.

The words come from :mod:`importer.i18n`; this module is where click meets them: ``say()`` for
every message, and :class:`SpeakingContext`, the context of every command, for click's own
usage errors and help. Files (results, summary.json) are never translated.
"""

from __future__ import annotations

import io
import json
import os
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any

import click

from importer.i18n import choose_language, translate, translate_help


def language() -> str:
    """The language of what is printed: --lang, else $RELIMPORT_LANG, else the locale."""
    context = click.get_current_context(silent=True)
    if context is not None and "relimport.lang" in context.meta:
        return str(context.meta["relimport.lang"])
    return choose_language(None, os.environ)


def say(message: str, *, err: bool = False) -> None:
    """Print a message for a person, in their language (files stay English: importer.i18n)."""
    click.echo(translate(message, language()), err=err)


class _Translated(click.ClickException):
    """A usage error of click's own, shown in the user's language."""

    exit_code = click.UsageError.exit_code

    def __init__(self, error: click.UsageError, lang: str) -> None:
        super().__init__(error.message)
        self.error, self.lang = error, lang

    def show(self, file: Any = None) -> None:
        shown = io.StringIO()
        self.error.show(shown)
        click.echo(translate(shown.getvalue(), self.lang), file=file, err=file is None, nl=False)


class _HelpFormatter(click.HelpFormatter):
    """click's help layout, with click's own words ("Usage:", "Options", "[default: 8]") in
    the user's language; the help texts themselves are translated by :class:`SpeakingContext`."""

    def __init__(self, lang: str, **options: Any) -> None:
        super().__init__(**options)
        self.lang = lang

    def word(self, english: str) -> str:
        return translate_help(english, self.lang) or english

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        super().write_usage(prog, args, f"{self.word('Usage:')} " if prefix is None else prefix)

    def write_heading(self, heading: str) -> None:
        super().write_heading(self.word(heading))

    def write_dl(
        self, rows: Iterable[tuple[str, str]], col_max: int = 30, col_spacing: int = 2
    ) -> None:
        def extras(text: str) -> str:  # click appends "  [default: x; required]" to the help
            return re.sub(
                r"\[(default)(?=: )|\b(required)\]$",
                lambda m: f"[{self.word('default')}" if m[1] else f"{self.word('required')}]",
                text,
            )

        super().write_dl([(term, extras(text)) for term, text in rows], col_max, col_spacing)


@contextmanager
def _help_in(lang: str, context: click.Context) -> Iterator[None]:
    """The help texts of ``context``'s command, its options and its subcommands in ``lang``
    while its help is formatted (click reads them from the objects); English again after.
    A text the catalogue lacks stays English (a test finds it)."""
    command = context.command
    owners: list[click.Command | click.Option] = [
        command,
        *(p for p in command.get_params(context) if isinstance(p, click.Option)),
        *getattr(command, "commands", {}).values(),
    ]
    saved = [(owner, owner.help) for owner in owners]
    try:
        for owner, english in saved:
            owner.help = english and (translate_help(english, lang) or english)
        yield
    finally:
        for owner, english in saved:
            owner.help = english


class SpeakingContext(click.Context):
    """The context of ``relimport`` and each of its commands: every usage error of click's
    own leaves through here, and every help is drawn here, so both are shown in the user's
    language. (--lang is eager: it decides before --help and the group's other options.)"""

    def language(self) -> str:
        return str(self.meta.get("relimport.lang") or choose_language(None, os.environ))

    def make_formatter(self) -> click.HelpFormatter:
        return _HelpFormatter(
            self.language(), width=self.terminal_width, max_width=self.max_content_width
        )

    def get_help(self) -> str:
        with _help_in(self.language(), self):
            return super().get_help()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        lang = self.language()
        result = super().__exit__(exc_type, exc_value, tb)
        if isinstance(exc_value, click.UsageError):
            if self.meta.get("relimport.json") and not getattr(exc_value, "json_shown", False):
                _print_usage_json(exc_value)  # once, whichever context it passes through
            if lang != "en":
                raise _Translated(exc_value, lang) from None
        return result


def _print_usage_json(error: click.UsageError) -> None:
    """--json: a usage error of click's own is an outcome too (exit 2, nothing started),
    printed as the other commands print theirs (English, as every file and JSON is)."""
    error.json_shown = True  # type: ignore[attr-defined]
    outcome = {
        "exit_code": error.exit_code,
        "outcome": "not_started",
        "error": error.format_message(),
    }
    click.echo(json.dumps(outcome, ensure_ascii=False))


def remember_language(context: click.Context, _: click.Parameter, value: str | None) -> str | None:
    context.meta["relimport.lang"] = choose_language(value, os.environ)
    return value


def speak_to_everyone(command: click.Command) -> None:
    """``command`` and all its subcommands use :class:`SpeakingContext` (help and usage errors)."""
    command.context_class = SpeakingContext
    for subcommand in getattr(command, "commands", {}).values():
        speak_to_everyone(subcommand)
