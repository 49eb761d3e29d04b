"""What the user reads, in English or Spanish; what scripts read, always in English.

Every message is built in English where it arises (errors, notices, the summary, doctor's
lines). Instead of threading a language through every module, the command line translates
at its output boundary: :func:`translate` matches each line against a catalogue of English
message shapes (``importer/locale/es.yaml``) and renders the Spanish template with the same
values. A shape is English text with placeholders::

    "{path}: there is no such file. Check the file name and the folder."
    "Error: {message:msg}"

``{name}`` is any text; ``{name:num}`` a number (``1``, ``199,997``, ``0.5``); ``{name:msg}``
a nested message, itself translated; ``{name:status}`` a status value; ``{name:spaces}`` the
padding of a column. The whole line must match; the first shape that does, nested messages
included, wins. A line no shape matches stays in English (and :func:`translate_line` says
so, which is how a test finds messages the catalogue misses).

The help of the commands (``--help``) is not a message: each option's and command's help text
is looked up whole in the catalogue's ``help`` section (:func:`translate_help`), with click's
own words ("Usage:", "Options"...) beside them.

Files never change with the language: status values, column names, ``error_code`` and the
``error`` column of the results, ``summary.json`` and ``plan.json`` stay English, since
scripts and ``--only`` read them. Ids, file names, flags, commands and status values inside a
message are kept as they are.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

import yaml

from importer.models import Status

__all__ = [
    "LANGUAGES",
    "choose_language",
    "column_help",
    "translate",
    "translate_help",
    "translate_line",
]

LANGUAGES = ("en", "es")
#: The environment variable that chooses the language when --lang is not given.
LANGUAGE_VARIABLE = "RELIMPORT_LANG"
#: Then the locale, as POSIX programs read it: the first of these that is set decides.
LOCALE_VARIABLES = ("LC_ALL", "LC_MESSAGES", "LANG")

_KINDS = {
    "": r".+?",
    "msg": r".+?",
    "num": r"-?\d[\d,.]*",
    "spaces": r" +",
    "status": "|".join(sorted((re.escape(s.value) for s in Status), key=len, reverse=True)),
}


def choose_language(flag: str | None, environ: Mapping[str, str]) -> str:
    """``--lang``, else ``RELIMPORT_LANG``, else the locale (``es...`` is Spanish); English."""
    for value in (flag, environ.get(LANGUAGE_VARIABLE)):
        if value:
            return "es" if value.lower().startswith("es") else "en"
    for name in LOCALE_VARIABLES:
        value = environ.get(name)
        if value:
            return "es" if value.lower().startswith("es") else "en"
    return "en"


@dataclass(frozen=True, slots=True)
class _Entry:
    pattern: re.Pattern[str]
    nested: tuple[str, ...]  # the groups that are messages themselves
    template: str


def _compile(shape: str, template: str) -> _Entry:
    """``"row {n:num}: {message:msg}"`` -> an anchored regex with named groups."""
    parts, nested = [], []
    for literal, name, kind, _ in string.Formatter().parse(shape):
        parts.append(re.escape(literal))
        if name is not None:
            parts.append(f"(?P<{name}>{_KINDS[kind or '']})")
            if kind == "msg":
                nested.append(name)
    return _Entry(re.compile("".join(parts), re.DOTALL), tuple(nested), template)


@dataclass(frozen=True, slots=True)
class Catalogue:
    messages: tuple[_Entry, ...]
    help: dict[str, str]  # by the English with its whitespace collapsed (_help_key)
    columns: dict[str, str]


def _help_key(text: str) -> str:
    """A help text as the catalogue knows it: one line, however the docstring is wrapped."""
    return " ".join(text.split())


@cache
def load_catalogue(lang: str) -> Catalogue:
    """The message shapes, the help texts and the column help of ``lang`` (not English)."""
    text = files("importer").joinpath("locale", f"{lang}.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    return Catalogue(
        messages=tuple(_compile(item["en"], item[lang]) for item in data["messages"]),
        help={_help_key(item["en"]): item[lang] for item in data["help"]},
        columns=dict(data["columns"]),
    )


def _render(text: str, lang: str, misses: list[str]) -> str:
    """``text`` in ``lang``; what no shape matches is added to ``misses`` and kept."""
    if not text.strip():
        return text
    partial: tuple[str, list[str]] | None = None
    for entry in load_catalogue(lang).messages:
        match = entry.pattern.fullmatch(text)
        if match is not None:
            values, missed = match.groupdict(), list[str]()
            for name in entry.nested:
                values[name] = _render(values[name], lang, missed)
            rendered = entry.template.format(**values)
            if not missed:
                return rendered
            partial = partial or (rendered, missed)  # a later shape may fit it whole
    rendered, missed = partial or (text, [text])
    misses += missed
    return rendered


def translate_line(line: str, lang: str) -> str | None:
    """``line`` in ``lang``, or None if the catalogue lacks its shape (or a nested one's)."""
    if lang == "en":
        return line
    misses: list[str] = []
    translated = _render(line, lang, misses)
    return None if misses else translated


def translate(text: str, lang: str) -> str:
    """Each line of ``text`` in ``lang``; what the catalogue lacks stays in English."""
    if lang == "en":
        return text
    return "\n".join(_render(line, lang, []) for line in text.split("\n"))


def translate_help(text: str, lang: str) -> str | None:
    """A help text of the CLI (an option's, a command's, or a word of click's own) in ``lang``,
    or None if the catalogue lacks it. Paragraphs are kept; click wraps the lines."""
    if lang == "en":
        return text
    return load_catalogue(lang).help.get(_help_key(text))


#: What each result column holds, and each status value means (English, the code's language).
COLUMN_HELP: tuple[tuple[str, str], ...] = (
    ("row", "The row number in the input file, as a spreadsheet program shows it."),
    ("status", "What became of the row; one of the values below. Scripts can rely on them."),
    (Status.VALID, "Dry run only: the row is correct and a real run would send it."),
    (Status.CREATED, "The relation was created."),
    (Status.ALREADY_EXISTS, "The relation was already there: nothing was changed."),
    (Status.DUPLICATE_ROW, "The same pair as an earlier row of the file: sent only once."),
    (Status.DELETED, "Undo: the relation this row created was deleted."),
    (Status.GONE, "Undo: the relation was already gone."),
    (Status.SKIPPED, "Undo: the row created nothing, so nothing was deleted."),
    (Status.WOULD_DELETE, "Undo's dry run (undo --dry-run): the relation a real undo deletes."),
    (Status.INVALID, "The row has a problem (see error): nothing was sent for it."),
    (Status.UNRESOLVED, "An email, phone or property value matched no record."),
    (Status.AMBIGUOUS, "An email, phone or property value matched several records: not guessed."),
    (Status.FAILED, "The API refused the row, or gave no answer after every retry (see error)."),
    (Status.NOT_SENT, "The run stopped before sending the row; run the same command to resume."),
    ("relation_id", "The id of the relation created (or found)."),
    ("first_id", "The record id of the first side (the row's own, or the one its value found)."),
    ("second_id", "The record id of the second side."),
    ("error_code", "A stable code of the problem, e.g. rejected, gave_up, daily_budget."),
    ("error", "What went wrong, for a person (always in English); warnings start with warning:."),
    ("http_status", "The last HTTP status the API answered for the row."),
    ("attempts", "Requests sent for the row, look-ups included, over all runs."),
)


def column_help(lang: str) -> list[tuple[str, str]]:
    """(column or status value, meaning) for every result column, in ``lang``."""
    names = [
        (f"status: {name.value}" if isinstance(name, Status) else name, text)
        for name, text in COLUMN_HELP
    ]
    if lang == "en":
        return names
    spanish = load_catalogue(lang).columns
    keys = [name.value if isinstance(name, Status) else name for name, _ in COLUMN_HELP]
    return [(shown, spanish[key]) for (shown, _), key in zip(names, keys, strict=True)]
