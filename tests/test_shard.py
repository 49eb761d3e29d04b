"""relimport split / merge: shards by location that run anywhere, merged back in input order."""

from __future__ import annotations

import csv
import json
import os
import subprocess
from collections import Counter
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from importer.cli import main
from importer.errors import InputError
from importer.i18n import translate_line
from importer.sandbox import Limits, Sandbox, serve
from importer.sandbox.seed import OPPORTUNITIES_CONTACTS, locations_seed
from importer.sandbox.seed import contact_id as contact
from importer.sandbox.seed import deal_id as deal
from importer.sandbox.seed import location_id as location
from importer.sandbox.seed import location_token as token
from importer.setup import SEVERITY, assign, merge, read_manifest, split
from tests.conftest import REPO, read_results, write_csv

HEADER = ["Location", "Opportunity", "Contact", "Note"]


def interleaved(tmp_path: Path, sizes: dict[int, int]) -> tuple[Path, list[list[str]]]:
    """An input whose rows take the locations in turn (sorted by nothing)."""
    rows = []
    for row in range(max(sizes.values())):
        for n, count in sizes.items():
            if row < count:
                rows.append([location(n), deal(n, row), contact(n, row), f"{n}/{row}"])
    return write_csv(tmp_path / "deals.csv", [HEADER, *rows]), rows


@pytest.mark.parametrize(
    ("rows", "shards", "groups"),
    [
        ({"a": 5, "b": 3, "c": 2, "d": 2}, 2, [["a", "d"], ["b", "c"]]),  # 7 and 5
        ({"a": 9, "b": 1, "c": 1}, 2, [["a"], ["b", "c"]]),  # a location is never cut
        ({"a": 1, "b": 1}, 3, [["a"], ["b"], []]),  # more shards than locations: one empty
        ({"x": 2, "y": 2, "z": 2}, 3, [["x"], ["y"], ["z"]]),  # ties: by name, lower index
    ],
)
def test_locations_go_whole_to_the_shard_with_the_fewest_rows(
    rows: dict[str, int], shards: int, groups: list[list[str]]
) -> None:
    assert assign(rows, shards) == groups


def test_split_writes_each_location_whole_in_one_shard_and_a_manifest(tmp_path: Path) -> None:
    sizes = {1: 6, 2: 4, 3: 3, 4: 1}
    source, rows = interleaved(tmp_path, sizes)
    manifest = split(source, tmp_path / "shards", shards=2, location_column="Location")
    assert [(s.input, s.rows, s.locations) for s in manifest.shards] == [
        ("deals.shard-0-of-2.csv", 7, (location(1), location(4))),
        ("deals.shard-1-of-2.csv", 7, (location(2), location(3))),
    ]
    assert read_manifest(tmp_path / "shards" / "deals.shards.json") == manifest
    for shard in manifest.shards:
        with (tmp_path / "shards" / shard.input).open(encoding="utf-8", newline="") as file:
            written = list(csv.reader(file))
        wanted = [row for row in rows if row[0] in shard.locations]  # input order kept
        assert written == [HEADER, *wanted]


def test_split_refuses_what_it_cannot_do(tmp_path: Path) -> None:
    source, _ = interleaved(tmp_path, {1: 2})
    with pytest.raises(InputError, match="there is no column 'Site' to split by"):
        split(source, tmp_path / "s", shards=2, location_column="Site")
    split(source, tmp_path / "s", shards=1, location_column="Location")
    with pytest.raises(InputError, match="a shard file is already there"):
        split(source, tmp_path / "s", shards=1, location_column="Location")


def _fake_run(folder: Path, shard_input: str, results: str, status: str, code: int) -> None:
    """What a shard's run leaves: its result file (every row, numbered in the shard) and
    summary.json."""
    with (folder / shard_input).open(encoding="utf-8", newline="") as file:
        rows = list(csv.reader(file))
    header = [*rows[0], "row", "status", "relation_id", "first_id", "second_id", "error_code",
              "error", "http_status", "attempts"]  # fmt: skip
    body = [
        [*row, str(n), status, "", "", "", "", "", "", "1"] for n, row in enumerate(rows[1:], 2)
    ]
    write_csv(folder / results, [header, *body])
    summary = {"exit_code": code}
    (folder / results).with_suffix(".summary.json").write_text(json.dumps(summary))


def test_merge_puts_every_row_back_in_input_order_with_the_worst_exit_code(
    tmp_path: Path,
) -> None:
    source, rows = interleaved(tmp_path, {1: 3, 2: 2, 3: 2})
    folder = tmp_path / "shards"
    manifest = split(source, folder, shards=3, location_column="Location")
    for shard, (status, code) in zip(
        manifest.shards, [("created", 0), ("failed", 1), ("not_sent", 5)], strict=True
    ):
        _fake_run(folder, shard.input, shard.results, status, code)
    merged = merge(folder / "deals.shards.json")
    results = read_results(folder / "deals-results.csv")
    assert [[r[c] for c in HEADER] for r in results] == rows
    assert [r["row"] for r in results] == [str(n) for n in range(2, len(rows) + 2)]
    assert merged.exit_code == 5 and merged.exit_codes == (0, 1, 5)
    assert sum(merged.counts.values()) == len(rows)
    summary = json.loads((folder / "deals-results.summary.json").read_text())
    assert summary["exit_code"] == 5 and summary["rows"] == len(rows)


@pytest.mark.parametrize(
    ("codes", "worst"), [((0, 1), 1), ((1, 4), 4), ((4, 5), 5), ((5, 3, 0), 3), ((0, 0), 0)]
)
def test_the_worst_exit_code_is_the_one_that_needs_the_most(
    codes: tuple[int, ...], worst: int
) -> None:
    assert max(codes, key=SEVERITY.index) == worst


def test_merge_refuses_a_missing_shard_or_a_changed_input(tmp_path: Path) -> None:
    source, _ = interleaved(tmp_path, {1: 2, 2: 2})
    folder = tmp_path / "shards"
    manifest = split(source, folder, shards=2, location_column="Location")
    first, second = manifest.shards
    _fake_run(folder, first.input, first.results, "created", 0)
    with pytest.raises(InputError, match=r"shard 1 has no result file yet\. Run it first"):
        merge(folder / "deals.shards.json")
    _fake_run(folder, second.input, second.results, "created", 0)
    source.write_text(source.read_text() + f"{location(1)},x,y,\n")
    with pytest.raises(InputError, match="changed since"):
        merge(folder / "deals.shards.json")
    assert not (folder / "deals-results.csv").exists()


def test_the_kubernetes_job_runs_the_shards_split_writes(tmp_path: Path) -> None:
    job = yaml.safe_load((REPO / "examples" / "k8s-indexed-job.yaml").read_text())
    spec = job["spec"]
    assert (job["kind"], spec["completionMode"]) == ("Job", "Indexed")
    source = write_csv(
        tmp_path / "relations.csv",
        [HEADER, *([location(n), deal(n, 0), contact(n, 0), ""] for n in range(1, 5))],
    )
    manifest = split(source, tmp_path / "shards", shards=4, location_column="Location")
    assert spec["completions"] == spec["parallelism"] == len(manifest.shards)
    container = spec["template"]["spec"]["containers"][0]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    env = {e["name"]: e for e in container["env"]}
    assert "secretKeyRef" in env["LEADWAY_TOKEN"]["valueFrom"]  # never the token itself
    assert mounts["state"]["mountPath"] == env["RELIMPORT_STATE_DIR"]["value"]
    assert "$(JOB_COMPLETION_INDEX)" in mounts["state"]["subPathExpr"]  # a folder per shard
    shards_dir = mounts["data"]["mountPath"] + "/shards"
    for shard in manifest.shards:
        args = [a.replace("$(JOB_COMPLETION_INDEX)", str(shard.index)) for a in container["args"]]
        assert args[:4] == [
            "run",
            f"{shards_dir}/{shard.input}",
            "--out",
            f"{shards_dir}/{shard.results}",
        ]


@pytest.mark.slow
def test_shards_as_processes_against_one_server_hold_each_limit_and_merge_every_row_once(
    tmp_path: Path,
) -> None:
    sizes = {1: 40, 2: 30, 3: 25, 4: 10, 5: 5}
    source, rows = interleaved(tmp_path, sizes)
    sandbox = Sandbox(locations_seed(sizes), limits=Limits(burst=10, interval=0.5))
    config = tmp_path / "config.yaml"
    config.write_text(
        f"association: {OPPORTUNITIES_CONTACTS}\n"
        "first_column: Opportunity\n"
        "second_column: Contact\n"
        "location_column: Location\n"
        "rate_limit: {max_requests: 10, window_seconds: 0.5}\n"
        "token_env_by_location:\n" + "".join(f"  {location(n)}: SHARD_TOKEN_{n}\n" for n in sizes)
    )
    env = {
        **os.environ,
        **{f"SHARD_TOKEN_{n}": token(n) for n in sizes},
        "PATH": f"{REPO / '.venv' / 'bin'}{os.pathsep}{os.environ['PATH']}",
    }
    split_run = CliRunner().invoke(
        main, ["split", str(source), "--shards", "3", "--out-dir", str(tmp_path / "shards"),
               "--config", str(config)],
    )  # fmt: skip
    assert split_run.exit_code == 0, split_run.output
    with serve(sandbox) as server:
        done = subprocess.run(
            [str(REPO / "examples" / "run-shards.sh"), str(tmp_path / "shards"), "3",
             "--config", str(config), "--base-url", server.url],
            capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path,
        )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("Merged 3 shards: 110 rows\n  created              110\n")
    results = read_results(tmp_path / "shards" / "deals-results.csv")
    assert [[r[c] for c in HEADER] for r in results] == rows  # every row once, in input order
    assert [r["row"] for r in results] == [str(n) for n in range(2, len(rows) + 2)]
    for n, count in sizes.items():
        stats = sandbox.stats(location(n))
        assert stats.max_in_window <= 10 and stats.rate_limited == 0, location(n)
        relations = Counter(
            (r["firstRecordId"], r["secondRecordId"]) for r in sandbox.relations(location(n))
        )
        assert relations == Counter((deal(n, row), contact(n, row)) for row in range(count))


def test_what_split_and_merge_print_is_in_the_spanish_catalogue(tmp_path: Path) -> None:
    source, _ = interleaved(tmp_path, {n: 2 for n in range(1, 10)})
    folder = tmp_path / "shards"
    said = CliRunner().invoke(
        main, ["split", str(source), "--shards", "2", "--out-dir", str(folder),
               "--location-column", "Location"],
    )  # fmt: skip
    manifest = read_manifest(folder / "deals.shards.json")
    for shard in manifest.shards:
        _fake_run(folder, shard.input, shard.results, "created", 0)
    merged = CliRunner().invoke(main, ["merge", str(folder / "deals.shards.json")])
    config = tmp_path / "config.yaml"
    config.write_text("association: x\n")  # no location_column
    refused = CliRunner().invoke(
        main, ["split", str(source), "--shards", "2", "--out-dir", "x", "--config", str(config)]
    )
    assert (said.exit_code, merged.exit_code, refused.exit_code) == (0, 0, 2)
    lines = [*said.output.splitlines(), *merged.output.splitlines(), *refused.output.splitlines()]
    assert " (+2)\n" in said.output and " (+1)\n" in said.output  # 5 and 4 locations of 9
    assert [line for line in lines if translate_line(line, "es") is None] == []
