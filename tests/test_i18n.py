"""Spanish: every line the CLI prints is in the catalogue; files never change with the language."""

from __future__ import annotations

import csv
import json
import re
import string
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest
from click.testing import CliRunner
from openpyxl import load_workbook

from importer.cli import main
from importer.i18n import (
    COLUMN_HELP,
    _catalogue,
    choose_language,
    column_help,
    translate,
    translate_line,
)
from importer.models import Status
from importer.report import RESULT_COLUMNS
from importer.report_xlsx import write_workbook
from importer.sandbox import DEMO_TOKEN, Sandbox, serve
from tests.conftest import REPO, SAMPLES

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
    entries, _ = _catalogue("es")
    for entry in entries:
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


# -- the CLI in Spanish, scenario by scenario ---------------------------------------------------


def _replace(old: str, new: str) -> Callable[[Path], None]:
    def change(folder: Path) -> None:
        sample = folder / "samples/relations.csv"
        sample.write_text(sample.read_text().replace(old, new))

    return change


def _token_in_config(folder: Path) -> None:
    config = folder / "config.yaml"
    config.write_text(config.read_text() + "# pit-1a2b3c4d-1111-4222-8333-444455556666\n")
    config.chmod(0o644)


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
    "a missing config value": [("run", DEMO, "--location-id", "")],
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
    "usage mistakes": [
        ("run", DEMO, "--only", "bogus"),
        ("run",),
        ("run", DEMO, "--bogus"),
        ("run", DEMO, "--results-format", "pdf"),
    ],
}


def _workspace(folder: Path) -> Path:
    """A copy of the repository's config and samples (as test_cli's in_repo)."""
    (folder / "samples").mkdir(parents=True)
    (folder / "config.yaml").write_text((REPO / "config.yaml").read_text())
    for sample in SAMPLES.iterdir():
        (folder / "samples" / sample.name).write_bytes(sample.read_bytes())
    return folder


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
            for budget in data.get("budgets", {}).values():  # as the loopback server's
                budget.pop("daily_remaining")  # headers say, answers and starts overlapping
            yield name, data


@pytest.mark.parametrize("steps", SCENARIOS.values(), ids=SCENARIOS)
def test_every_line_the_cli_prints_is_in_spanish_and_the_files_stay_english(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, steps: list[Step]
) -> None:
    english = _run("en", _workspace(tmp_path / "en"), steps, monkeypatch)
    spanish = _run("es", _workspace(tmp_path / "es"), steps, monkeypatch)
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
    flagged = _run("en", _workspace(tmp_path / "flag"), steps, monkeypatch)
    monkeypatch.chdir(_workspace(tmp_path / "plain"))
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
    monkeypatch.chdir(_workspace(tmp_path))
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
    monkeypatch.chdir(_workspace(tmp_path))
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
    monkeypatch.chdir(_workspace(tmp_path))
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
        "Advertencias: 1 filas tienen ids con una forma inesperada.\n"
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
    monkeypatch.chdir(_workspace(tmp_path))
    result = CliRunner().invoke(main, ["--lang", "es", "run", DEMO, "--results-format", "xlsx"])
    assert result.exit_code == 0
    book = load_workbook(tmp_path / "results/relations-results.xlsx", read_only=True)
    rows = [tuple(row) for row in book["Help"].iter_rows(values_only=True)]
    book.close()
    assert rows == [("columna", "significado"), *column_help("es")]
