"""Family 4, files: ``relimport validate`` (read + validate, no writes, in-process sandbox) of
CSV and XLSX files of growing size, each in a fresh process: seconds and peak RSS."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from openpyxl import Workbook

from bench.figures import Figure
from bench.params import Params
from bench.workload import HEADER, run_child, write_config
from importer.sandbox import student_id, teacher_id

CSV_SECONDS, RSS_MB, FLAT = 10.0, 200.0, 1.25
#: The exit of a dry run whose real run does not fit in today's budget (the sandbox allows
#: 200,000 requests a day): the file was read and validated all the same.
OVER_BUDGET = 7


def write_csv(path: Path, n: int) -> Path:
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(HEADER)
        writer.writerows((student_id(i % 9999 + 1), teacher_id(i)) for i in range(1, n + 1))
    return path


def write_xlsx(path: Path, n: int) -> Path:
    book = Workbook(write_only=True)
    sheet = book.create_sheet("pairs")
    sheet.append(HEADER)
    for i in range(1, n + 1):
        sheet.append((student_id(i % 9999 + 1), teacher_id(i)))
    book.save(path)
    return path


def measure(p: Params, work: Path, skipped: list[str]) -> list[Figure]:
    config = write_config(work / "files.yaml", max_requests=100, window=10)
    figures: list[Figure] = []
    by_kind: dict[str, list[float]] = {"CSV": [], "XLSX": []}
    for kind in ("CSV", "XLSX"):
        for n in p.file_rows:
            size = "large" if n == max(p.file_rows) else "small"
            if kind == "XLSX" and n >= 1_000_000 and p.skip_big_xlsx:
                skipped.append(f"XLSX of {n:,} rows (--quick)")
                figures += [
                    Figure(f"files.xlsx.{size}.{what}", f"Validate XLSX of {n:,} rows: {what}",
                           None, "skipped (--quick)")
                    for what in ("seconds", "peak_rss_mb")
                ]  # fmt: skip
                continue
            path = work / f"file-{n}.{kind.lower()}"
            (write_csv if kind == "CSV" else write_xlsx)(path, n)
            args = [sys.executable, "-m", "importer", "validate", str(path), "--config",
                    str(config), "--base-url", "sandbox", "--out", str(work / "dry.csv"),
                    "--quiet"]  # fmt: skip
            child = run_child(args, work)
            if child.returncode not in (0, OVER_BUDGET):
                raise RuntimeError(f"validate exited {child.returncode}: {child.stderr[-2000:]}")
            path.unlink()
            (work / "dry.csv").unlink()  # results are never overwritten: make room for the next
            by_kind[kind].append(child.max_rss_mb)
            big_csv = kind == "CSV" and n == max(p.file_rows)
            figures += [
                Figure(
                    f"files.{kind.lower()}.{size}.seconds",
                    f"Validate {kind} of {n:,} rows: seconds",
                    round(child.wall, 2),
                    f"{child.wall:.1f}",
                    f"<= {CSV_SECONDS:g}" if big_csv else "",
                    child.wall <= CSV_SECONDS if big_csv else None,
                    f"{n / child.wall:,.0f} rows/s",
                ),
                Figure(
                    f"files.{kind.lower()}.{size}.peak_rss_mb",
                    f"Validate {kind} of {n:,} rows: peak RSS MB",
                    round(child.max_rss_mb, 1),
                    f"{child.max_rss_mb:.0f}",
                    f"<= {RSS_MB:g}" if big_csv else "",
                    child.max_rss_mb <= RSS_MB if big_csv else None,
                ),
            ]
    for kind, rss in by_kind.items():
        name = f"{kind} peak RSS, largest / smallest file"
        if len(rss) < 2:
            figures.append(Figure(f"files.{kind.lower()}.rss_growth", name, None, "skipped"))
        else:
            growth = rss[-1] / rss[0]
            figures.append(
                Figure(
                    f"files.{kind.lower()}.rss_growth",
                    name,
                    round(growth, 3),
                    f"{growth:.2f}",
                    f"flat (<= {FLAT:g})",
                    growth <= FLAT,
                    f"{max(p.file_rows) // min(p.file_rows)}x the rows",
                )
            )
    return figures
