"""The README tells the truth: its console examples are run here and their output compared."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from importer.config import reference_table
from tests.conftest import REPO

README = (REPO / "README.md").read_text(encoding="utf-8")
BIN = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin"
TIMING = re.compile(r"(Time|Tiempo): [\d.]+ s, [\d.]+ (rows|filas)/s")


def console_examples() -> list[tuple[int, str, str]]:
    """(block, command, expected output) for every `$ ` line of the console blocks, in order.
    The commands of one block run one after the other in one folder; each block in its own."""
    examples = []
    for number, block in enumerate(re.findall(r"```console\n(.*?)```", README, flags=re.S)):
        for chunk in re.split(r"^\$ ", block, flags=re.M)[1:]:
            command, _, output = chunk.partition("\n")
            examples.append((number, command, output))
    return examples


def test_the_configuration_reference_is_generated_from_the_settings() -> None:
    start, end = "<!-- reference:start -->\n", "\n<!-- reference:end -->"
    assert README[README.index(start) + len(start) : README.index(end)] == reference_table()


def test_make_demo_runs_what_the_readme_shows() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert "\t$(BIN)/relimport run samples/relations.csv\n" in makefile
    assert (REPO / ".ci" / "run").read_text().count("make test") == 1


@pytest.mark.slow
def test_every_console_example_prints_what_the_readme_shows(tmp_path: Path) -> None:
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("LEADWAY_TOKEN", None)
    examples = console_examples()
    assert [command for _, command, _ in examples] == [
        "make demo",
        "make test",
        "relimport init samples/relations.csv --base-url sandbox --location-id "
        "ldwDemoLocation00001 --no-interactive --out my-config.yaml",
        "relimport doctor --config my-config.yaml",
        "relimport validate samples/relations.csv --config my-config.yaml",
        "relimport run samples/relations.csv --config my-config.yaml",
        "relimport associations",
        "relimport validate samples/relations-with-problems.csv",
        "relimport run samples/relations-with-problems.csv",
        "relimport run samples/relations.csv --limit 2",
        "relimport split samples/deals-two-locations.csv --by location --shards 2 "
        "--out-dir shards --location-column Location",
        """ls shards/*-of-2.csv | xargs -P 2 -I{} sh -c 'relimport run "$0" --out """
        """"${0%.csv}-results.csv" --association OPPORTUNITIES_CONTACTS_ASSOCIATION """
        """--first-column Opportunity --second-column Contact --location-column Location """
        """--quiet' {}""",
        "relimport merge shards/deals-two-locations.shards.json",
        "printf 'Export from SchoolSys 2024-09-01\\nStudent ID,Teacher ID\\n"
        "67a349a79b28947ec1f60001,cTeacher000000000002\\n' > export.csv",
        "relimport validate export.csv --header-row 2",
        "printf 'Student ID,Teacher ID\\n67a349a79b28947ec1f60001;67a349a79b28947ec1f60002,"
        "cTeacher000000000002\\n' > multi.csv",
        "relimport validate multi.csv --split ';' --quiet",
        "cut -d, -f1,3,4 results/multi-dry-run.csv | tail -n 2",
        'relimport validate samples/students-by-email.csv --first-column "Student email" '
        '--first-lookup student_email --second-column "Teacher phone" --second-lookup phone',
        "relimport --lang es run samples/relations-with-problems.csv",
    ]
    for block, command, expected in examples:
        folder = tmp_path / str(block)
        if not folder.exists():
            folder.mkdir()
            shutil.copy(REPO / "config.yaml", folder)
            shutil.copytree(REPO / "samples", folder / "samples")
        if command == "make test":
            continue  # this is CI's own command (.ci/run)
        if command == "make demo":
            echoed, _, expected = expected.partition("\n")
            assert echoed == ".venv/bin/relimport run samples/relations.csv"
            command = "relimport run samples/relations.csv"
        done = subprocess.run(
            command,
            shell=True,
            cwd=folder,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode in (0, 1), done.stderr
        assert TIMING.sub("T", done.stderr + done.stdout) == TIMING.sub("T", expected), command


def test_every_error_code_the_code_can_write_is_in_the_troubleshooting_table() -> None:
    source = "\n".join(path.read_text() for path in (REPO / "importer").rglob("*.py"))
    codes = set(re.findall(r'(?:error_code=|code = |Issue\(\s*|Error\) else )"([a-z_]+)"', source))
    codes |= {
        f"{side}_{kind}"
        for side in ("first", "second")
        for kind in re.findall(r'f"\{(?:side\.)?role\}_([a-z_]+)"(?=,)', source)
    }
    codes |= set(re.findall(r'_invalid\(\s*"([a-z_]+)"', source))
    codes |= set(re.findall(r'\(key\[\d\], "([a-z_]+)"', source))
    codes |= {"unverified"} if 'UNVERIFIED = "unverified"' in source else set()
    assert {"short_row", "rejected", "first_id_blank", "daily_budget", "second_unresolved"} <= codes
    assert {"location_blank", "association_not_found", "second_record_wrong_kind"} <= codes
    table = README[README.index("## Troubleshooting") : README.index("## Pace, retries")]
    missing = sorted(code for code in codes if f"`{code}`" not in table)
    assert missing == []
