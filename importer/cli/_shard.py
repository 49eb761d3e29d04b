"""``relimport split`` and ``relimport merge``: one input as shards that run anywhere.

The work is :mod:`importer.setup`'s; these commands parse, call it and print. The helpers of
:mod:`importer.cli` are imported inside the commands: ``cli`` imports this module.
"""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

import click

from importer.cli._common import fail, json_output, load, print_json
from importer.errors import ConfigError, RelimportError
from importer.models import Status
from importer.setup import Manifest, Merged, manifest_path
from importer.setup import merge as merge_shards
from importer.setup import split as split_input


@click.command()
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option(
    "--by",
    type=click.Choice(["location"]),
    default="location",
    show_default=True,
    help="What a shard holds whole: every row of a location is in one shard.",
)
@click.option(
    "--shards",
    type=click.IntRange(1, 10_000),
    required=True,
    help="How many shard files to write (fewer when there are fewer locations).",
)
@click.option(
    "--out-dir",
    type=click.Path(path_type=Path),
    required=True,
    help="Folder of the shard files and their manifest.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path),
    help="Config file (default: ./config.yaml when present).",
)
@click.option("--location-column", help="Column holding each row's location id.")
@click.option("--sheet", help="Sheet to read in a workbook (default: the first).")
def split(
    input_path: Path,
    by: str,
    shards: int,
    out_dir: Path,
    config_path: Path | None,
    location_column: str | None,
    sheet: str | None,
) -> None:
    """Split an input into shards by location, each an ordinary run, and write a manifest.

    Every location is whole in one shard, the shards balanced by rows. Run each shard with
    relimport run (on any machine or scheduler), then relimport merge MANIFEST.
    """
    from importer.cli._language import say

    try:
        settings = load(config_path, location_column=location_column, sheet=sheet)
        column = settings.location_column
        if not column:
            raise ConfigError(
                "split --by location needs the column of the locations: set location_column "
                "in config.yaml or pass --location-column."
            )
        manifest = split_input(
            input_path, out_dir, shards=shards, location_column=column, sheet=settings.sheet
        )
    except RelimportError as error:
        fail(error)
        return
    for line in split_lines(manifest, out_dir):
        say(line)


def split_lines(manifest: Manifest, out_dir: Path) -> list[str]:
    """What split prints: the shards, the manifest, and the commands to run next."""
    locations = sum(len(shard.locations) for shard in manifest.shards)
    lines = [
        f"Split {manifest.input}: {manifest.rows} rows of {locations} locations into "
        f"{len(manifest.shards)} shards"
    ]
    for shard in manifest.shards:
        shown = ", ".join(shard.locations[:3])
        more = len(shard.locations) - 3
        if more > 0:
            shown += f" (+{more})"
        lines.append(f"  {out_dir / shard.input}: {shard.rows} rows; locations: {shown}")
    manifest_file = manifest_path(out_dir, Path(manifest.input))
    lines.append(f"Manifest: {manifest_file}")
    lines.append("Run each shard (anywhere, in any order, at once):")
    for shard in manifest.shards:
        command = ["relimport", "run", str(out_dir / shard.input)]
        lines.append(f"  {shlex.join([*command, '--out', str(out_dir / shard.results)])}")
    lines.append(f"Then: {shlex.join(['relimport', 'merge', str(manifest_file)])}")
    return lines


@click.command()
@click.argument("manifest_path", metavar="MANIFEST", type=click.Path(path_type=Path))
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="The merged result CSV (default: <input>-results.csv beside the manifest).",
)
def merge(manifest_path: Path, out: Path | None) -> None:
    """Merge the shards' result files into one, in the input's row order.

    Every input row once, with its row number in the input; one summary; the exit code is
    the worst of the shards'.
    """
    from importer.cli._language import say

    try:
        merged = merge_shards(manifest_path, out)
    except RelimportError as error:
        fail(error)
        return
    if json_output():
        print_json(merged.as_json())
    else:
        for line in merge_lines(merged):
            say(line)
    sys.exit(merged.exit_code)


def merge_lines(merged: Merged) -> list[str]:
    lines = [f"Merged {len(merged.exit_codes)} shards: {merged.rows} rows"]
    for status in Status:
        if merged.counts.get(status):
            lines.append(f"  {status.value:<15} {merged.counts[status]:>8}")
    lines.append(f"Results: {merged.result_path}")
    codes = ", ".join(f"shard {index}: {code}" for index, code in enumerate(merged.exit_codes))
    lines.append(f"Exit code {merged.exit_code}, the worst of the shards' ({codes}).")
    return lines
