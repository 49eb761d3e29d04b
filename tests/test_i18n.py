"""Spanish: every line the CLI prints is in the catalogue; files never change with the language."""

from __future__ import annotations

import csv
import json
import re
import string
import zipfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from openpyxl import Workbook, load_workbook

from importer import logs
from importer.api import auth_message, check_tokens
from importer.cli import main
from importer.config import Settings, load_settings
from importer.errors import ConfigError, InputError
from importer.i18n import (
    COLUMN_HELP,
    choose_language,
    column_help,
    load_catalogue,
    translate,
    translate_help,
    translate_line,
)
from importer.models import Association, Outcome, Pair, SourceRow, Status
from importer.read import open_table, pick_sheet, refuse_large_ods, refuse_zip_bomb
from importer.read.delimited import LINE_LIMIT, check_line_length, read_error
from importer.read.sheets import open_sheet
from importer.report import RESULT_COLUMNS
from importer.report.xlsx import write_workbook
from importer.run import Mirror, Repair, plan_deletions
from importer.sandbox import DEMO_TOKEN, Sandbox, serve
from importer.state import Ledger
from importer.validate import Checks
from tests.conftest import copy_of_repo
from tests.spreadsheets import BOMB_DTD, TABLE, ods_row, sheet_xml, write_ods, write_xlsx

Step = tuple[str, ...] | Callable[[Path], None]


@pytest.fixture(autouse=True)
def no_locale(monkeypatch: pytest.MonkeyPatch) -> None:
    """Start from a neutral environment: only --lang (or what a test sets) chooses."""
    for name in ("RELIMPORT_LANG", "LC_ALL", "LC_MESSAGES", "LANG", "LEADWAY_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(
    ("flag", "environment", "expected"),
    [
        (None, {}, "en"),
        ("es", {}, "es"),
        ("en", {"RELIMPORT_LANG": "es", "LANG": "es_MX.UTF-8"}, "en"),
        (None, {"RELIMPORT_LANG": "es"}, "es"),
        (None, {"RELIMPORT_LANG": "en", "LANG": "es_MX.UTF-8"}, "en"),
        (None, {"LANG": "es_MX.UTF-8"}, "es"),
        (None, {"LANG": "es_AR.UTF-8", "LC_MESSAGES": "en_US.UTF-8"}, "en"),
        (None, {"LANG": "en_US.UTF-8", "LC_MESSAGES": "es_CO.UTF-8"}, "es"),
        (None, {"LC_ALL": "C", "LANG": "es_ES.UTF-8"}, "en"),
        (None, {"LC_ALL": "", "LANG": "es_ES.UTF-8"}, "es"),
        (None, {"LANG": "fr_FR.UTF-8"}, "en"),
    ],
)
def test_the_language_is_the_flag_then_the_variable_then_the_locale(
    flag: str | None, environment: dict[str, str], expected: str
) -> None:
    assert choose_language(flag, environment) == expected


def test_a_line_is_translated_whole_or_reported_missing() -> None:
    line = "Error: samples/x.csv: there is no such file. Check the file name and the folder."
    assert translate_line(line, "es") == (
        "Error: samples/x.csv: ese archivo no existe. Revise el nombre del archivo y la carpeta."
    )
    assert translate_line("Something new.", "es") is None
    assert translate_line("Error: Something new.", "es") is None  # the nested message too
    assert translate("Results: r.csv\nSomething new.", "es") == "Resultados: r.csv\nSomething new."
    assert translate("Results: r.csv\nSomething new.", "en") == "Results: r.csv\nSomething new."


def _names(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def test_every_spanish_template_uses_exactly_the_values_of_its_english_shape() -> None:
    for entry in load_catalogue("es").messages:
        assert _names(entry.template) == set(entry.pattern.groupindex), entry.template


def test_the_help_of_the_result_columns_covers_every_column_and_status() -> None:
    english, spanish = column_help("en"), column_help("es")
    assert [name for name, _ in english] == [name for name, _ in spanish]
    names = {name for name, _ in english}
    assert set(RESULT_COLUMNS) <= names
    assert {f"status: {status.value}" for status in Status} <= names
    assert len(names) == len(COLUMN_HELP)
    assert all(text and text != english[i][1] for i, (_, text) in enumerate(spanish))


def test_the_workbook_has_a_help_sheet_in_the_language(tmp_path: Path) -> None:
    result = tmp_path / "r.csv"
    result.write_text(",".join(("Student ID", *RESULT_COLUMNS)) + "\nx,2,created,,,,,,201,1\n")
    for lang in ("en", "es"):
        write_workbook(result, tmp_path / f"{lang}.xlsx", {"rows": 1}, lang=lang)
        book = load_workbook(tmp_path / f"{lang}.xlsx", read_only=True)
        assert book.sheetnames == ["Rows", "Summary", "Help"]
        rows = [tuple(row) for row in book["Help"].iter_rows(values_only=True)]
        book.close()
        header = ("column", "meaning") if lang == "en" else ("columna", "significado")
        assert rows == [header, *column_help(lang)]


# -- --help in Spanish ---------------------------------------------------------------------------


def _commands(
    command: click.Command, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    yield path, command
    for name, subcommand in sorted(getattr(command, "commands", {}).items()):
        yield from _commands(subcommand, (*path, name))


COMMANDS = dict(_commands(main))


def _help_texts(command: click.Command) -> list[str]:
    """What the help of ``command`` shows that the code wrote: its own, its options'."""
    with click.Context(command) as context:
        options = [p.help for p in command.get_params(context) if isinstance(p, click.Option)]
    return [text for text in (command.help, *options) if text]


def _flat(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("path", COMMANDS, ids=lambda path: " ".join(("relimport", *path)))
def test_every_help_is_in_spanish(path: tuple[str, ...]) -> None:
    command = COMMANDS[path]
    english, spanish = (
        CliRunner().invoke(main, ["--lang", lang, *path, "--help"], prog_name="relimport")
        for lang in ("en", "es")
    )
    assert (english.exit_code, spanish.exit_code) == (0, 0)
    texts = _help_texts(command)
    assert [text for text in texts if translate_help(text, "es") is None] == []
    shown = _flat(spanish.stdout)
    assert [text for text in texts if _flat(text) in shown] == []  # each was there in English
    assert all(_flat(text) in _flat(english.stdout) for text in texts if "-" not in text)
    for subcommand in getattr(command, "commands", {}).values():
        start = _flat(subcommand.help or "")[:25]  # how much the list shows depends on the width
        assert start in english.stdout
        assert start not in spanish.stdout
    assert spanish.stdout.startswith(f"Uso: {' '.join(('relimport', *path))} [OPTIONS]")
    for word in ("Usage:", "Options:", "Commands:", "default:", "Show this message"):
        assert word not in spanish.stdout
    assert "Usage:" in english.stdout and "Uso:" not in english.stdout


def test_every_help_text_of_the_code_has_its_spanish() -> None:
    texts = {_flat(text) for command in COMMANDS.values() for text in _help_texts(command)}
    assert len(texts) >= 69
    assert sorted(text for text in texts if translate_help(text, "es") is None) == []


@pytest.mark.parametrize(
    ("arguments", "environment"),
    [
        (("--lang", "es", "run", "--help"), {}),
        (("run", "--help"), {"RELIMPORT_LANG": "es"}),
        (("run", "-h"), {"LANG": "es_MX.UTF-8"}),
    ],
)
def test_the_help_of_run_in_spanish(
    monkeypatch: pytest.MonkeyPatch, arguments: tuple[str, ...], environment: dict[str, str]
) -> None:
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(main, arguments, terminal_width=80, prog_name="relimport")
    assert (result.exit_code, result.stdout) == (0, RUN_HELP)


def test_the_group_help_follows_an_earlier_lang_and_english_stays_as_click_writes_it() -> None:
    spanish = CliRunner().invoke(main, ["--lang", "es", "--help"], prog_name="relimport")
    assert spanish.stdout.startswith(
        "Uso: relimport [OPTIONS] COMMAND [ARGS]...\n\n"
        "  Crea relaciones en lote en Leadway CRM desde archivos CSV y Excel.\n\nOpciones:\n"
    )
    assert "[predeterminado: text]" in spanish.stdout
    assert "\nComandos:\n" in spanish.stdout
    plain = CliRunner().invoke(main, ["--help"], terminal_width=80, prog_name="relimport")
    english = CliRunner().invoke(
        main, ["--lang", "en", "--help"], terminal_width=80, prog_name="relimport"
    )
    assert plain.stdout == english.stdout
    assert "[default: text]" in plain.stdout
    with click.Context(main, info_name="relimport", terminal_width=80) as context:
        assert plain.stdout == main.get_help(context) + "\n"  # click's own, untouched
    assert plain.stdout.endswith(
        "  -h, --help                Show this message and exit.\n\n"
        "Commands:\n"
        "  associations  List the location's associations (id, key, both object keys...\n"
        "  doctor        Check that a run would start, with a few requests that...\n"
        "  init          Write a commented config file for an account, guessed from...\n"
        "  ledger        The ledger of known relations (in state_dir): see it,...\n"
        "  merge         Merge the shards' result files into one, in the input's row...\n"
        "  run           Import the relations listed in INPUT (CSV, TSV, TXT, XLSX,...\n"
        "  sandbox       The built-in API emulator (the default target).\n"
        "  split         Split an input into shards by location, each an ordinary...\n"
        "  undo          Delete exactly the relations that the import of RESULTS_CSV...\n"
        "  validate      Read and validate INPUT without creating anything (same as...\n"
    )


RUN_HELP = (
    "Uso: relimport run [OPTIONS] INPUT\n"
    "\n"
    "  Importa las relaciones listadas en INPUT (CSV, TSV, TXT, XLSX, XLSM, XLS, XLSB\n"
    "  u ODS).\n"
    "\n"
    "  Volver a ejecutar el mismo comando reanuda una ejecución interrumpida: las\n"
    "  filas ya resueltas no se envían otra vez.\n"
    "\n"
    "Opciones:\n"
    "  --config PATH                   Archivo de configuración (predeterminado:\n"
    "                                  ./config.yaml si existe).\n"
    "  --base-url TEXT                 'sandbox' (el predeterminado) o la URL base de\n"
    "                                  la API.\n"
    "  --location-id TEXT              El id de la ubicación (location, subcuenta).\n"
    "  --association TEXT              Clave o id de la asociación.\n"
    "  --first-column TEXT             Columna con los ids de los registros del\n"
    "                                  primer lado.\n"
    "  --second-column TEXT            Columna con los ids de los registros del\n"
    "                                  segundo lado.\n"
    "  --sheet TEXT                    Hoja que se lee en un libro (predeterminado:\n"
    "                                  la primera).\n"
    "  --encoding TEXT                 Codificación del CSV (predeterminado:\n"
    "                                  detectada).\n"
    "  --header-row INTEGER RANGE      Fila con los títulos de las columnas, tal como\n"
    "                                  la numera su hoja de cálculo (predeterminado:\n"
    "                                  la primera fila con un valor).  [x>=1]\n"
    "  --no-header                     El archivo no tiene fila de encabezado:\n"
    "                                  indique las columnas por su letra (A, B...) o\n"
    "                                  su posición.\n"
    "  --out PATH                      CSV de resultados (predeterminado:\n"
    "                                  results/<input>-results.csv, o -dry-run.csv;\n"
    "                                  un archivo existente solo puede ser el de esta\n"
    "                                  misma ejecución, que se reanuda).\n"
    "  --concurrency INTEGER           Solicitudes en curso a la vez, por ubicación\n"
    "                                  (1-64, predeterminado 8).\n"
    "  --split CHARACTER               Las celdas pueden tener varios ids separados\n"
    "                                  por CHARACTER (como ';'): una relación por id,\n"
    "                                  cada una con el número de su fila.\n"
    "  --strict-ids / --no-strict-ids  Tratar los ids con una forma inesperada como\n"
    "                                  no válidos, no como advertencias.\n"
    "  --first-lookup TEXT             Qué tiene la primera columna: id\n"
    "                                  (predeterminado), email o phone (contactos), o\n"
    "                                  el nombre de una propiedad (objetos\n"
    "                                  personalizados).\n"
    "  --second-lookup TEXT            Qué tiene la segunda columna (como --first-\n"
    "                                  lookup).\n"
    "  --location-column TEXT          Columna con el id de la ubicación de cada\n"
    "                                  fila.\n"
    "  --association-column TEXT       Columna que nombra la asociación de cada fila.\n"
    "  --check-records / --no-check-records\n"
    "                                  Verificar que cada registro exista y sea del\n"
    "                                  tipo correcto antes de enviar.\n"
    "  --skip-existing / --no-skip-existing\n"
    "                                  Leer primero las relaciones existentes y\n"
    "                                  omitirlas, cuando eso cuesta menos.\n"
    "  --ledger / --no-ledger          Resolver sin solicitudes los pares que el\n"
    "                                  registro de relaciones conocidas (ledger) ya\n"
    "                                  tiene, y anotar en él cada par confirmado\n"
    "                                  (activado de forma predeterminada; vea\n"
    "                                  state_dir).\n"
    "  --mirror / --no-mirror          Eliminar además las relaciones que crearon\n"
    "                                  ejecuciones anteriores y que el archivo ya no\n"
    "                                  tiene (nunca una que relimport no creó).\n"
    "  --max-deletes N                 --mirror se detiene antes de enviar si fuera a\n"
    "                                  eliminar más de N relaciones (predeterminado\n"
    "                                  100, y como máximo el 10 % de los pares de la\n"
    "                                  asociación en el registro de relaciones\n"
    "                                  conocidas).\n"
    "  --swap / --no-swap              La primera columna tiene el segundo lado de la\n"
    "                                  asociación, y viceversa.\n"
    "  --order-check / --no-order-check\n"
    "                                  Detenerse antes de enviar cuando los ids\n"
    "                                  muestran que las columnas están invertidas\n"
    "                                  (activado de forma predeterminada).\n"
    "  --results-format [csv|xlsx|both]\n"
    "                                  csv (predeterminado); xlsx o both: además un\n"
    "                                  libro de Excel junto al CSV (el CSV se queda:\n"
    "                                  la reanudación, --only y undo lo leen).\n"
    "  --quiet                         No imprimir nada salvo los errores.\n"
    "  --restart                       Empezar de nuevo aunque haya un journal de una\n"
    "                                  ejecución anterior (se conserva aparte).\n"
    "  --only STATUS[,STATUS...]       INPUT es un archivo de resultados: procesar\n"
    "                                  solo sus filas con estos status (p. ej.\n"
    "                                  failed,not_sent), conservando sus números de\n"
    "                                  fila.\n"
    "  --wait-lock SECONDS             Si otra ejecución tiene tomado el archivo de\n"
    "                                  resultados o una ubicación, esperarla este\n"
    "                                  tiempo (predeterminado 0: detenerse de\n"
    "                                  inmediato, salida 2).  [x>=0]\n"
    "  --limit INTEGER RANGE           Procesar solo las primeras N filas de datos\n"
    "                                  (una prueba antes del archivo entero); las\n"
    "                                  demás quedan not_sent (outside_range) y una\n"
    "                                  ejecución posterior sin --limit las envía.\n"
    "                                  [x>=1]\n"
    "  --rows FIRST-LAST               Procesar solo estas filas, numeradas como las\n"
    "                                  muestra su hoja de cálculo (100-250, 100- o\n"
    "                                  -250); las demás quedan not_sent\n"
    "                                  (outside_range) y una ejecución posterior las\n"
    "                                  envía.\n"
    "  --dry-run                       Solo leer y validar; no enviar ninguna\n"
    "                                  solicitud de escritura.\n"
    "  -h, --help                      Mostrar este mensaje y salir.\n"
)


# -- rare errors: real messages of the code, each in the catalogue -----------------------------


def _raised(make: Callable[[], object]) -> str:
    with pytest.raises((ConfigError, InputError)) as caught:
        make()
    return str(caught.value)


def _settings(tmp_path: Path, config: str = "", **flags: str) -> Settings:
    path = tmp_path / "config.yaml"
    path.write_text(config)
    return load_settings(config_path=path, flags=flags, environ={})


def _csv(tmp_path: Path, content: bytes | str, name: str = "in.csv") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


def _read(path: Path, **options: str) -> None:
    with open_table(path, **options) as table:
        list(table.rows)


def _notices(path: Path, **options: str) -> tuple[str, ...]:
    with open_table(path, **options) as table:
        return tuple(  # as run.py shows them: the reader's own name of the file as the path
            f"samples/{notice}"
            if notice.startswith(path.name)
            else f"samples/{path.name}: {notice}"
            for notice in table.notices
        )


def _open_sheet(path: Path, **limits: int) -> None:
    with open_sheet(path, **limits):
        pass


def _zip_refusal(tmp_path: Path, *claimed: zipfile.ZipInfo, zeros: int = 0) -> str:
    """Why a workbook holding ``zeros`` bytes of zeros, and listing ``claimed`` too, is refused."""
    path = tmp_path / "in.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/worksheets/sheet1.xml", bytes(zeros))
    with zipfile.ZipFile(path) as archive:
        archive.filelist.extend(claimed)  # read, never written back
        return _raised(lambda: refuse_zip_bomb(tmp_path / "in.xlsx", archive))


def _entity_bomb(tmp_path: Path) -> Path:
    path = tmp_path / "bomb.ods"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("content.xml", BOMB_DTD + "<document/>")
    return path


def _config_messages(tmp_path: Path) -> list[str]:
    token = "pit-1a2b3c4d-1111-4222-8333-444455556666"
    return [
        _raised(lambda: _settings(tmp_path, token_env="MY TOKEN")),
        _raised(lambda: _settings(tmp_path, token_env=token)),
        _raised(lambda: _settings(tmp_path, "token_env_by_location: {loc1: 'a b'}\n")),
        _raised(lambda: _settings(tmp_path, "first: 3\n")),
        _raised(lambda: _settings(tmp_path, "first: {column: A}\nfirst_column: B\n")),
        _raised(lambda: _settings(tmp_path, "phone_region: XX\nfirst_lookup: a b\n")),
        _raised(lambda: _settings(tmp_path, "first_colum: x\nrate_limit: {max_request: 3}\n")),
        *_ledger_messages(tmp_path),
    ]


def _ledger_messages(tmp_path: Path) -> list[str]:
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database" * 100)
    Ledger.open(tmp_path / "l.sqlite", "https://a.example", "loc1")
    return [
        _raised(lambda: Ledger.open(junk, "https://a.example", "loc1")),
        _raised(lambda: Ledger.open(tmp_path / "l.sqlite", "https://b.example", "loc1")),
    ]


def _token_messages(tmp_path: Path) -> list[str]:
    settings = _settings(
        tmp_path, "token_env_by_location: {loc1: LOC1_TOKEN}\n", target="https://127.0.0.1:9"
    )
    where = "samples/by-location.csv"
    return [_raised(lambda: check_tokens(settings, ["loc1", "loc2"], where))]


def _check_messages(tmp_path: Path) -> list[str]:
    settings = _settings(
        tmp_path,
        first_column="a",
        second_column="b",
        location_column="loc",
        association="student_teacher",
    )
    checks = Checks(settings, "in.csv")
    checks.bind(("a", "b", "loc"))
    rows = (SourceRow(n, ("x", "y", f"loc{n}")) for n in range(2, 1100))
    lookups = Checks(_settings(tmp_path, association="x", second_lookup="email"), "in.csv")
    lookups.associations["loc", "x"] = Association(
        "x1", "x", "contact", "Contact", "opportunity", "Opportunity"
    )
    return [_raised(lambda: checks.scope_keys(rows)), _raised(lookups.check_lookups)]


def _csv_messages(tmp_path: Path) -> list[str]:
    where = tmp_path / "in.csv"
    parse_errors = [
        csv.Error("field larger than field limit (16777216)"),
        csv.Error("',' expected after '\"'"),
        csv.Error("new-line character seen in unquoted field"),
        UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
    ]
    return [
        _raised(lambda: _read(_csv(tmp_path, 'id,name\n1,"open\n2,x\n'))),
        _raised(lambda: _read(_csv(tmp_path, 'id,name\n1,"x"y\n'))),
        *(str(read_error(where, error, 3, 4, "utf-8")) for error in parse_errors),
        _raised(lambda: _read(_csv(tmp_path, b"PK\x03\x04 rest"))),
        _raised(lambda: _read(_csv(tmp_path, b"\xd0\xcf\x11\xe0 rest"))),
        _raised(lambda: _read(_csv(tmp_path, b"%PDF-1.7 rest"))),
        _raised(lambda: _read(_csv(tmp_path, "id,name\n1,a\x00b\n".encode("utf-16")))),
        _raised(lambda: check_line_length(where, "x" * (LINE_LIMIT + 1), 0, 2)),
        *_notices(_csv(tmp_path, "id,,name\n1,,a\n")),
        *_notices(_csv(tmp_path, "id,,name,,x\n1,,a,,b\n")),
        *_notices(_csv(tmp_path, "id,,,,,,,,x\n1,,,,,,,,b\n")),
        *_notices(_csv(tmp_path, "id,,name\n1,,a\n"), sheet="Sheet1"),
    ]


def _sheet_messages(tmp_path: Path) -> list[str]:
    book = Workbook()
    book.active.append(["id", None, "name"])
    book.active.append([1, None, "a"])
    book.create_sheet("Other")
    book.save(tmp_path / "in.xlsx")
    xlsx = tmp_path / "in.xlsx"
    ods = write_ods(tmp_path, ods_row("id") + ods_row("a") + ods_row("b"))
    big = zipfile.ZipInfo("xl/big.xml")
    big.file_size = 2_000_000_000
    return [
        _raised(lambda: _read(xlsx, sheet="Nope")),
        _raised(lambda: pick_sheet(xlsx, [], None)),
        _raised(lambda: pick_sheet(xlsx, [], "B")),
        *_notices(xlsx, encoding="utf-8"),
        _raised(lambda: _open_sheet(ods, max_bytes=100)),
        _raised(lambda: _open_sheet(ods, max_rows=1)),
        _raised(lambda: _read(write_xlsx(tmp_path, sheet_xml(TABLE + '<row r="4"><c r="A4"')))),
        _raised(lambda: refuse_large_ods(ods, 1, 1)),
        *_notices(ods, encoding="utf-8"),
        _raised(lambda: refuse_large_ods(_entity_bomb(tmp_path), 10, 10)),
        _raised(lambda: _read(_csv(tmp_path, b"not a spreadsheet", "in.ods"))),
        _raised(lambda: _read(write_xlsx(tmp_path, sheet_xml(TABLE, prolog=BOMB_DTD)))),
        _raised(lambda: _read(_csv(tmp_path, b"PK\x03\x04 not a zip", "in.xlsx"))),
        _zip_refusal(tmp_path, zeros=2_000_000),
        _zip_refusal(tmp_path, big),
        _zip_refusal(tmp_path, *(zipfile.ZipInfo(f"{n}.xml") for n in range(10_000))),
    ]


def _other_messages(tmp_path: Path) -> list[str]:
    return [
        _raised(lambda: _read(_csv(tmp_path, b"PK\x03\x04", "~$book.xlsx"))),
        _raised(lambda: logs.configure(tmp_path / "missing" / "run.log")),
        auth_message(401, "Invalid JWT", "loc1", "LEADWAY_TOKEN"),
        auth_message(403, "The token is not authorized for this scope.", "loc1", "LEADWAY_TOKEN"),
        auth_message(403, "Forbidden", "loc1", "LEADWAY_TOKEN"),
        *Repair(records=4, forgotten=3, refused=2).notices(),
        *_mirror_messages(tmp_path),
    ]


def _mirror_messages(tmp_path: Path) -> list[str]:
    ledger = Ledger.memory("https://a.example", "loc1")
    for n in range(20):
        ledger.confirm("a1", Pair(f"s{n}", "t"), f"r{n}", "relimport")
    association = Association("a1", "key", "student", "Student", "teacher", "Teacher")
    mirror = Mirror(Settings(mirror=True))
    unresolved = Outcome(Status.UNRESOLVED)
    return [
        _raised(lambda: mirror.plan(ledger, association, [])),
        _raised(lambda: plan_deletions(ledger, "a1", "key", set(), 3)),
        mirror.plan(ledger, association, [unresolved]) or "",
        _raised(lambda: Mirror(Settings(mirror=True, location_column="L"))),
        _raised(lambda: Mirror(Settings(mirror=True, ledger=False))),
        f"--mirror: 1 relations would be deleted: see {tmp_path}/x-deleted.csv",
        f"--mirror: deleted 3, gone 1: see {tmp_path}/x-deleted.csv",
        f"--mirror: nothing to delete: see {tmp_path}/x-deleted.csv",
        "Ledger: 120 rows were linked already (the ledger of known relations): no request "
        "for them.",
    ]


RARE = {
    "config": _config_messages,
    "tokens": _token_messages,
    "checks": _check_messages,
    "csv": _csv_messages,
    "sheets": _sheet_messages,
    "other": _other_messages,
}


@pytest.mark.parametrize("make", RARE.values(), ids=RARE)
def test_rare_errors_and_notices_are_in_spanish(
    tmp_path: Path, make: Callable[[Path], list[str]]
) -> None:
    messages = make(tmp_path)
    lines = [line for message in messages for line in f"Error: {message}".split("\n")]
    assert [line for line in lines if translate_line(line, "es") is None] == []
    for line in lines:  # the values are carried over: names, numbers, reasons
        spanish = translate_line(line, "es") or ""
        assert [value for value in _values(line) if value not in spanish] == [], spanish


def _values(line: str) -> list[str]:
    """The values the shape of ``line`` takes from it, nested messages' values included."""
    for entry in load_catalogue("es").messages:
        match = entry.pattern.fullmatch(line)
        if match is not None and all(translate_line(match[n], "es") for n in entry.nested):
            groups = match.groupdict()
            nested = [v for n in entry.nested for v in _values(groups.pop(n))]
            return [*groups.values(), *nested]
    return []


# -- the CLI in Spanish, scenario by scenario ---------------------------------------------------


def _replace(old: str, new: str) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        sample = folder / "samples/relations.csv"
        sample.write_text(sample.read_text().replace(old, new))

    return change


def _location_column_only(folder: Path) -> None:
    config = folder / "config.yaml"
    config.write_text(
        config.read_text().replace("\nlocation_id:", "\nlocation_column: Location\n# location_id:")
    )


def _bare_config(folder: Path) -> None:
    (folder / "missing-all.yaml").write_text("location_id: ldwDemoLocation00001\n")


def _token_in_config(folder: Path) -> None:
    config = folder / "config.yaml"
    config.write_text(config.read_text() + "# pit-1a2b3c4d-1111-4222-8333-444455556666\n")
    config.chmod(0o644)


def _export(folder: Path) -> None:
    """A file as people export it: a title line, a title used twice, short and long rows."""
    (folder / "samples/export.csv").write_text(
        "Export from SchoolSys 2024-09-01\n"
        "Student ID,Teacher ID,Note,Note\n"
        "67a349a79b28947ec1f60001,cTeacher000000000002\n"
        "67a349a79b28947ec1f60002,cTeacher000000000002,a,b,c\n"
        "67a349a79b28947ec1f60003\n"
    )


def _mixed(folder: Path) -> None:
    """A file of two locations, one of which the token may not access."""
    (folder / "samples/mixed.csv").write_text(
        "Student ID,Teacher ID,Location\n"
        "67a349a79b28947ec1f60001,cTeacher000000000002,ldwDemoLocation00001\n"
        "67a349a79b28947ec1f60003,cTeacher000000000004,ldwUnknownLocation99\n"
    )


DEMO, PROBLEMS = "samples/relations.csv", "samples/relations-with-problems.csv"
INIT = ("--base-url", "sandbox", "--location-id", "ldwDemoLocation00001", "--no-interactive")
#: What an ops person meets: each scenario's every output line must be in the catalogue.
#: "{server}" is a loopback sandbox that outlives one command (a run against it resumes).
SCENARIOS: dict[str, list[Step]] = {
    "validate the demo": [("validate", DEMO)],
    "run the demo": [("run", DEMO)],
    "validate the problems": [("validate", PROBLEMS)],
    "run the problems": [("run", PROBLEMS)],
    "check records": [("validate", PROBLEMS, "--check-records"), ("run", DEMO, "--check-records")],
    "skip existing": [
        ("validate", DEMO, "--skip-existing", "--check-records"),
        ("run", DEMO, "--skip-existing"),
    ],
    "xlsx in, workbook out": [("run", "samples/relations.xlsx", "--results-format", "both")],
    "re-run the failures": [
        ("run", PROBLEMS),
        ("run", "results/relations-with-problems-results.csv", "--only", "failed"),
    ],
    "nothing to re-run": [
        ("run", DEMO),
        ("run", "results/relations-results.csv", "--only", "failed,not_sent"),
    ],
    "undo": [("run", DEMO), ("undo", "results/relations-results.csv", "--dry-run")],
    "resume, change, restart": [
        ("run", DEMO, "--base-url", "{server}"),
        ("run", DEMO, "--base-url", "{server}"),
        _replace("Ana Ruiz", "Ana Ruiz-Diaz"),
        ("run", DEMO, "--base-url", "{server}"),
        ("run", DEMO, "--base-url", "{server}", "--restart"),
    ],
    "doctor": [("doctor",), ("doctor", "--location-id", "ldwOtherLocation0002")],
    "init": [
        ("init", DEMO, *INIT, "--out", "mine.yaml"),
        ("init", DEMO, *INIT, "--out", "mine.yaml"),
        ("init", *INIT, "--out", "other.yaml"),
        ("init", *INIT, "--association", "student_teacher", "--out", "other.yaml"),
    ],
    "a missing column": [("run", DEMO, "--first-column", "Student")],
    "several ids in a cell": [
        ("validate", DEMO, "--split", "ab"),
        ("run", DEMO, "--split", ";"),
    ],
    "a location the token may not access": [
        _mixed,
        ("validate", "samples/mixed.csv", "--location-column", "Location"),
        ("run", "samples/mixed.csv", "--location-column", "Location"),
    ],
    "try a few rows": [
        ("run", DEMO, "--limit", "2"),
        ("run", PROBLEMS, "--rows", "8-9"),
        ("validate", DEMO, "--rows", "40-50"),
        ("validate", DEMO, "--rows", "9-3"),
        ("validate", DEMO, "--rows", "0-3"),
        ("validate", DEMO, "--rows", "x"),
        ("validate", DEMO, "--limit", "0"),
    ],
    "headers as people write them": [
        _export,
        ("validate", "samples/export.csv"),
        ("validate", "samples/export.csv", "--header-row", "2", "--first-column", "A"),
        ("validate", "samples/export.csv", "--header-row", "9"),
        ("validate", "samples/export.csv", "--header-row", "2", "--first-column", "Note"),
        ("validate", "samples/export.csv", "--header-row", "2", "--location-column", "Site"),
        ("validate", "samples/export.csv", "--header-row", "2", "--second-column", "1"),
        (
            "validate",
            "samples/export.csv",
            "--no-header",
            "--first-column",
            "A",
            "--second-column",
            "B",
        ),
    ],
    "a missing config value": [
        ("run", DEMO, "--location-id", ""),
        _bare_config,
        ("run", DEMO, "--config", "missing-all.yaml"),
    ],
    "an unknown association": [("run", DEMO, "--association", "nope")],
    "swapped columns": [("run", DEMO, "--swap")],
    "no token for a real API": [("run", DEMO, "--base-url", "https://127.0.0.1:9")],
    "config mistakes": [
        ("run", DEMO, "--concurrency", "0"),
        ("run", DEMO, "--config", "missing.yaml"),
        ("run", DEMO, "--base-url", "http://crm.example.com"),
        ("run", DEMO, "--second-column", "Student ID"),
    ],
    "file mistakes": [
        ("run", "samples/nope.csv"),
        ("run", DEMO, "--out", "samples"),
        ("run", DEMO, "--out", DEMO),
        ("validate", DEMO, "--out", "config.yaml"),
        ("run", DEMO, "--encoding", "utf-16"),
    ],
    "a token in the config file": [_token_in_config, ("validate", DEMO)],
    "lookups that do not fit": [
        ("validate", DEMO, "--first-lookup", "email"),
        ("validate", DEMO, "--second-lookup", "name"),
        (
            "validate",
            DEMO,
            "--association",
            "OPPORTUNITIES_CONTACTS_ASSOCIATION",
            "--first-lookup",
            "name",
        ),
    ],
    "undo without a location": [
        ("run", DEMO),
        _location_column_only,
        ("undo", "results/relations-results.csv", "--dry-run"),
    ],
    "usage mistakes": [
        ("run", DEMO, "--only", "bogus"),
        ("run",),
        ("run", DEMO, "--bogus"),
        ("run", DEMO, "--results-format", "pdf"),
    ],
}


def _run(
    lang: str, folder: Path, steps: list[Step], monkeypatch: pytest.MonkeyPatch
) -> list[tuple[int, str]]:
    """Every step in ``folder``: each command's exit code and output (stdout, then stderr)."""
    monkeypatch.chdir(folder)
    shown, url = [], "{server}"
    with ExitStack() as stack:
        if any(url in step for step in steps if isinstance(step, tuple)):
            monkeypatch.setenv("LEADWAY_TOKEN", DEMO_TOKEN)
            url = stack.enter_context(serve(Sandbox())).url
        for step in steps:
            if not isinstance(step, tuple):
                step(folder)
                continue
            args = ["--lang", lang, *(arg.replace("{server}", url) for arg in step)]
            result = CliRunner().invoke(main, args)
            if result.exception and not isinstance(result.exception, SystemExit):
                raise result.exception
            shown.append((result.exit_code, result.stdout + result.stderr))
    monkeypatch.delenv("LEADWAY_TOKEN", raising=False)
    return [(code, text.replace(url, "URL")) for code, text in shown]


def _steady(text: str) -> str:
    """Output without what changes from run to run: times, speeds, time stamps."""
    text = re.sub(r"\d{8}-\d{6}", "STAMP", text)
    return re.sub(r"[\d.]+ s, [\d.]+ (rows|filas)/s", r"T s, R \1/s", text)


def _files(folder: Path) -> Iterator[tuple[str, object]]:
    """The result files, but for what differs from run to run: run ids, times, and the ids of
    relations a sandbox makes (from its clock; so the digest of an input holding them).
    Journals and workbooks are not compared (a
    workbook's Help sheet is in the user's language)."""
    for path in sorted((folder / "results").glob("*")) if (folder / "results").exists() else ():
        name = re.sub(r"\d{8}-\d{6}", "STAMP", path.name)
        if path.suffix == ".csv":
            rows = list(csv.reader(path.read_text(encoding="utf-8-sig").splitlines()))
            ids = {i for i, column in enumerate(rows[0]) if column.endswith("relation_id")}
            yield name, [[c for i, c in enumerate(row) if i not in ids] for row in rows]
        elif path.suffix == ".json":
            data = json.loads(path.read_text())
            for volatile in ("run_id", "started_at", "seconds"):
                data.pop(volatile, None)
            if isinstance(data.get("input"), dict):  # an input with relation ids (undo)
                data["input"].pop("sha256")
            data.get("settings", {}).pop("target", None)  # a loopback server's URL, its port
            for budget in data.get("budgets", {}).values():  # as the loopback server's
                budget.pop("daily_remaining")  # headers say, answers and starts overlapping
            yield name, data


@pytest.mark.parametrize("steps", SCENARIOS.values(), ids=SCENARIOS)
def test_every_line_the_cli_prints_is_in_spanish_and_the_files_stay_english(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, steps: list[Step]
) -> None:
    english = _run("en", copy_of_repo(tmp_path / "en"), steps, monkeypatch)
    spanish = _run("es", copy_of_repo(tmp_path / "es"), steps, monkeypatch)
    lines = [line for _, text in english for line in text.splitlines()]
    assert [line for line in lines if translate_line(line, "es") is None] == []
    expected = [(code, _steady(translate(text, "es"))) for code, text in english]
    assert [(code, _steady(text)) for code, text in spanish] == expected
    assert spanish != english
    assert list(_files(tmp_path / "es")) == list(_files(tmp_path / "en"))


def test_english_is_unchanged_byte_for_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps: list[Step] = [("validate", PROBLEMS), ("run", DEMO, "--association", "nope")]
    flagged = _run("en", copy_of_repo(tmp_path / "flag"), steps, monkeypatch)
    monkeypatch.chdir(copy_of_repo(tmp_path / "plain"))
    plain = [CliRunner().invoke(main, list(step)) for step in steps if isinstance(step, tuple)]
    assert [(code, _steady(text)) for code, text in flagged] == [
        (result.exit_code, _steady(result.stdout + result.stderr)) for result in plain
    ]
    assert flagged[0][1].startswith("Dry run of samples/relations-with-problems.csv under ")
    assert flagged[1][1].startswith("Error: The association 'nope' does not exist")


@pytest.mark.parametrize(("variable", "value"), [("RELIMPORT_LANG", "es"), ("LANG", "es_MX.UTF-8")])
def test_the_environment_chooses_spanish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.chdir(copy_of_repo(tmp_path))
    monkeypatch.setenv(variable, value)
    result = CliRunner().invoke(main, ["run", "samples/nope.csv"])
    assert (result.exit_code, result.stderr) == (
        2,
        "Error: samples/nope.csv: ese archivo no existe. Revise el nombre del archivo y la "
        "carpeta.\n",
    )
    result = CliRunner().invoke(main, ["--lang", "en", "run", "samples/nope.csv"])
    assert result.stderr.startswith("Error: samples/nope.csv: there is no such file.")


def test_associations_in_spanish(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(copy_of_repo(tmp_path))
    result = CliRunner().invoke(main, ["--lang", "es", "associations"])
    assert (result.exit_code, result.stdout) == (
        0,
        "ID                                  CLAVE                               "
        "PRIMERO (ETIQUETA)                 SEGUNDO (ETIQUETA)  TIPO\n"
        "67c1f2a3b4c5d6e7f8a90001            student_teacher                     "
        "custom_objects.students (Student)  contact (Teacher)   USER_DEFINED\n"
        "OPPORTUNITIES_CONTACTS_ASSOCIATION  OPPORTUNITIES_CONTACTS_ASSOCIATION  "
        "opportunity (Opportunity)          contact (Contact)   SYSTEM_DEFINED\n"
        "BUSINESSES_CONTACTS_ASSOCIATION     BUSINESSES_CONTACTS_ASSOCIATION     "
        "business (Company)                 contact (Contact)   SYSTEM_DEFINED\n",
    )


def test_the_demo_in_spanish(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """What the README shows."""
    monkeypatch.chdir(copy_of_repo(tmp_path))
    result = CliRunner().invoke(main, ["--lang", "es", "run", PROBLEMS])
    assert result.exit_code == 1
    assert re.sub(r"[\d.]+ s, [\d.]+ filas", "T s, R filas", result.stdout) == (
        "Importación de samples/relations-with-problems.csv con la asociación student_teacher "
        "(Student -> Teacher): 11 filas\n"
        "  created                2\n"
        "  already_exists         1\n"
        "  duplicate_row          1\n"
        "  invalid                5\n"
        "  failed                 2\n"
        "Solicitudes: 6 (0 frenadas por el límite de tasa). Tiempo: T s, R filas/s.\n"
        "Advertencias: 1 fila tiene una advertencia (un id con una forma inesperada, una fila "
        "corta o larga): vea la columna error.\n"
        "Resultados: results/relations-with-problems-results.csv\n"
        "Algunas filas requieren atención: vea las columnas status y error de los resultados.\n"
    )
    assert result.stderr == (
        "samples/relations-with-problems.csv: fila 10: advertencia: el id de Student en la "
        "columna 'Student ID' (cTeacher000000000006) no parece un id de custom_objects.students "
        "(suele tener 24 caracteres hexadecimales); revise el orden de las columnas.\n"
    )


def test_a_spanish_run_writes_the_help_sheet_in_spanish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(copy_of_repo(tmp_path))
    result = CliRunner().invoke(main, ["--lang", "es", "run", DEMO, "--results-format", "xlsx"])
    assert result.exit_code == 0
    book = load_workbook(tmp_path / "results/relations-results.xlsx", read_only=True)
    rows = [tuple(row) for row in book["Help"].iter_rows(values_only=True)]
    book.close()
    assert rows == [("columna", "significado"), *column_help("es")]
