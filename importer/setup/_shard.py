"""Split an input by location into shards that run anywhere, and merge their results back.

Locations share nothing but their own budget, so the work splits cleanly by location:
:func:`split` writes N shard files (every location whole in one shard, the shards balanced by
rows) and a manifest; each shard is an ordinary ``relimport run``, on any machine or scheduler;
:func:`merge` reads the manifest and the shards' result files and writes one result file in
the input's row order, with the input's row numbers, and one summary whose exit code is the
worst of the shards'. No scheduler or work queue of our own: a shard is a file and a command.

Both stream: the split reads the input twice (count rows per location, then write), the merge
walks the input once beside the shards' result files; memory holds the locations, not rows.
"""

from __future__ import annotations

import csv
import heapq
import json
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from importer.errors import InputError
from importer.models import Status
from importer.read import open_table
from importer.report import result_columns, summary_path, write_json
from importer.run import file_digest

FORMAT = "relimport-shards/1"
#: Exit codes from the mildest to the worst: complete, partial, interrupted (resume now),
#: budget (resume another day), stopped (a person must fix something first), not started.
SEVERITY = (0, 1, 4, 5, 3, 2)


@dataclass(frozen=True)
class Shard:
    index: int  # 0-based: a Kubernetes Indexed Job's completion index
    input: str  # the shard file, relative to the manifest's folder
    results: str  # where its run writes its result file (--out), relative to the same
    rows: int
    locations: tuple[str, ...]


@dataclass(frozen=True)
class Manifest:
    input: str  # the input file, as given to split
    size: int
    sha256: str
    sheet: str | None
    location_column: str
    rows: int
    shards: tuple[Shard, ...]

    def as_json(self) -> dict[str, object]:
        return {
            "format": FORMAT,
            "by": "location",
            "input": {"path": self.input, "size": self.size, "sha256": self.sha256},
            "sheet": self.sheet,
            "location_column": self.location_column,
            "rows": self.rows,
            "shards": [
                {
                    "index": s.index,
                    "input": s.input,
                    "results": s.results,
                    "rows": s.rows,
                    "locations": list(s.locations),
                }
                for s in self.shards
            ],
        }


def manifest_path(out_dir: Path, input_path: Path) -> Path:
    return out_dir / f"{input_path.stem}.shards.json"


def shard_name(input_path: Path, index: int, count: int) -> str:
    return f"{input_path.stem}.shard-{index}-of-{count}.csv"


def assign(rows_by_location: dict[str, int], shards: int) -> list[list[str]]:
    """Locations into ``shards`` groups balanced by rows: the largest location first, each
    to the group with the fewest rows so far (ties: the lower index). Deterministic."""
    heap = [(0, index) for index in range(shards)]
    groups: list[list[str]] = [[] for _ in range(shards)]
    for location, rows in sorted(rows_by_location.items(), key=lambda item: (-item[1], item[0])):
        load, index = heapq.heappop(heap)
        groups[index].append(location)
        heapq.heappush(heap, (load + rows, index))
    return groups


def _column(header: tuple[str, ...], column: str, path: Path) -> int:
    if column not in header:
        raise InputError(
            f"{path}: there is no column '{column}' to split by. The columns are: "
            f"{', '.join(header)}. Set location_column (or --location-column) to the column "
            "holding each row's location id."
        )
    return header.index(column)


def split(
    path: Path, out_dir: Path, *, shards: int, location_column: str, sheet: str | None = None
) -> Manifest:
    """Write the shard files and the manifest into ``out_dir``; return the manifest."""
    if shards < 1:
        raise InputError(f"--shards must be 1 or more, not {shards}.")
    with open_table(path, sheet=sheet) as table:
        at = _column(table.header, location_column, path)
        counts = Counter(row.cells[at] if at < len(row.cells) else "" for row in table.rows)
    total = sum(counts.values())
    if total == 0:
        raise InputError(f"{path}: there are no rows under the header: nothing to split.")
    groups = [group for group in assign(dict(counts), shards) if group]  # no empty shard
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [shard_name(path, index, len(groups)) for index in range(len(groups))]
    for name in names:
        if (out_dir / name).exists():
            raise InputError(
                f"{out_dir / name}: a shard file is already there and is never overwritten. "
                "Choose another --out-dir or move the old shards away."
            )
    shard_of = {location: index for index, group in enumerate(groups) for location in group}
    with ExitStack() as stack, open_table(path, sheet=sheet) as table:
        writers = []
        for name in names:
            file = stack.enter_context((out_dir / name).open("w", encoding="utf-8", newline=""))
            writer = csv.writer(file)
            writer.writerow(table.header)
            writers.append(writer)
        for row in table.rows:
            location = row.cells[at] if at < len(row.cells) else ""
            writers[shard_of[location]].writerow(row.cells)
    manifest = Manifest(
        input=str(path),
        size=path.stat().st_size,
        sha256=file_digest(path),
        sheet=sheet,
        location_column=location_column,
        rows=total,
        shards=tuple(
            Shard(
                index=index,
                input=names[index],
                results=names[index].removesuffix(".csv") + "-results.csv",
                rows=sum(counts[location] for location in group),
                locations=tuple(sorted(group)),
            )
            for index, group in enumerate(groups)
        ),
    )
    write_json(manifest_path(out_dir, path), manifest.as_json())
    return manifest


def read_manifest(path: Path) -> Manifest:
    """The manifest written by :func:`split` (InputError if it is not one)."""
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r}")
        return Manifest(
            input=str(data["input"]["path"]),
            size=int(data["input"]["size"]),
            sha256=str(data["input"]["sha256"]),
            sheet=data.get("sheet"),
            location_column=str(data["location_column"]),
            rows=int(data["rows"]),
            shards=tuple(
                Shard(
                    index=int(s["index"]),
                    input=str(s["input"]),
                    results=str(s["results"]),
                    rows=int(s["rows"]),
                    locations=tuple(str(x) for x in s["locations"]),
                )
                for s in data["shards"]
            ),
        )
    except FileNotFoundError:
        raise InputError(f"{path}: there is no such file. Give the manifest split wrote.") from None
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise InputError(
            f"{path}: this is not a manifest written by relimport split ({error})."
        ) from None


@dataclass(frozen=True)
class Merged:
    """What :func:`merge` wrote: the result file, counts, and each shard's exit code."""

    result_path: Path
    counts: dict[Status, int]
    exit_codes: tuple[int, ...]  # by shard index

    @property
    def exit_code(self) -> int:
        return max(self.exit_codes, key=SEVERITY.index)

    @property
    def rows(self) -> int:
        return sum(self.counts.values())

    def as_json(self) -> dict[str, object]:
        return {
            "results": str(self.result_path),
            "rows": self.rows,
            "counts": {status.value: n for status, n in self.counts.items()},
            "shards": [{"index": i, "exit_code": c} for i, c in enumerate(self.exit_codes)],
            "exit_code": self.exit_code,
        }


def merge(manifest_file: Path, out: Path | None = None) -> Merged:
    """One result file from the shards' (input order, input row numbers) and its summary."""
    manifest = read_manifest(manifest_file)
    folder = manifest_file.parent
    source = Path(manifest.input)
    if not source.is_absolute() and not source.exists():
        source = folder / source.name
    if not source.exists() or file_digest(source) != manifest.sha256:
        raise InputError(
            f"{manifest.input}: the input the shards were split from is not there, or it "
            "changed since: the merge needs it as it was, to put the rows back in order."
        )
    codes = tuple(_exit_code(folder, shard) for shard in manifest.shards)
    out = out or folder / f"{source.stem}-results.csv"
    shard_of = {loc: shard.index for shard in manifest.shards for loc in shard.locations}
    counts: Counter[Status] = Counter()
    temporary = out.with_name(f".{out.name}.partial")
    with ExitStack() as stack:
        readers = [
            stack.enter_context(_ResultRows(folder / shard.results)) for shard in manifest.shards
        ]
        table = stack.enter_context(open_table(source, sheet=manifest.sheet))
        at = _column(table.header, manifest.location_column, source)
        header = readers[0].header
        if any(reader.header != header for reader in readers):
            raise InputError(
                f"{manifest_file}: the shards' result files have different columns: they are "
                "not the results of one split. Run every shard of this manifest, then merge."
            )
        target = stack.enter_context(temporary.open("w", encoding="utf-8-sig", newline=""))
        writer = csv.writer(target)
        writer.writerow(header)
        try:
            for row in table.rows:
                location = row.cells[at] if at < len(row.cells) else ""
                reader = readers[shard_of[location]]
                cells = reader.next_row(row.number)
                counts[Status(cells[reader.status_at])] += 1
                writer.writerow(cells)
            for reader in readers:
                reader.check_done()
        except BaseException:
            target.close()
            temporary.unlink(missing_ok=True)
            raise
    temporary.replace(out)
    merged = Merged(out, dict(counts), codes)
    write_json(summary_path(out), merged.as_json())
    return merged


def _exit_code(folder: Path, shard: Shard) -> int:
    results = folder / shard.results
    summary = summary_path(results)
    if not results.exists() or not summary.exists():
        raise InputError(
            f"{results}: shard {shard.index} has no result file yet. Run it first: "
            f"relimport run {folder / shard.input} --out {results}"
        )
    try:
        return int(json.loads(summary.read_text(encoding="utf-8"))["exit_code"])
    except (OSError, ValueError, KeyError, TypeError):
        raise InputError(f"{summary}: this is not a summary written by relimport.") from None


class _ResultRows:
    """A shard's result file, read row by row; each row's number set to the input's."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> _ResultRows:
        self._file: IO[str] = self.path.open(encoding="utf-8-sig", newline="")
        self._rows: Iterator[list[str]] = csv.reader(self._file)
        self.header = tuple(next(self._rows, []))
        columns = result_columns(self.header, self.path, "merge")
        self.row_at, self.status_at = columns["row"], columns["status"]
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._file.close()

    def next_row(self, number: int) -> list[str]:
        cells = next(self._rows, None)
        if cells is None:
            raise InputError(
                f"{self.path}: this shard's result file ends before input row {number}: "
                "it is not the result of this shard, or its run did not finish. Run the "
                "shard again (it resumes), then merge."
            )
        cells[self.row_at] = str(number)
        return cells

    def check_done(self) -> None:
        if next(self._rows, None) is not None:
            raise InputError(
                f"{self.path}: this shard's result file has more rows than the shard: it is "
                "not the result of this shard. Run the shard again with --restart, then merge."
            )
