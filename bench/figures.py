"""One figure of the suite, and the two files it ends in: a Markdown table and JSON."""

from __future__ import annotations

import json
import os
import platform
import sys
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

PACKAGES = ("relimport", "httpx", "openpyxl", "python-calamine", "pandas", "gohighlevel-api-client")


@dataclass(frozen=True)
class Figure:
    """A measured value beside its target; ``met`` is None where there is no target."""

    key: str  # stable name in results.json, e.g. "rate.honest.ratio"
    name: str  # what the table shows
    value: float | int | str | None
    shown: str  # the value as printed
    target: str = ""
    met: bool | None = None
    note: str = ""


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    versions: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = None
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "packages": versions,
    }


def write(
    figures: list[Figure], params: dict[str, Any], notes: list[str], out: Path
) -> tuple[Path, Path]:
    """Write ``results.md`` and ``results.json`` into ``out``; return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    info = machine()
    md, js = out / "results.md", out / "results.json"
    md.write_text(markdown(figures, notes, info, when), encoding="utf-8")
    document = {
        "generated": when,
        "machine": info,
        "parameters": params,
        "notes": notes,
        "figures": [asdict(figure) for figure in figures],
    }
    js.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return md, js


def markdown(figures: list[Figure], notes: list[str], info: dict[str, Any], when: str) -> str:
    lines = ["| figure | value | target | met? |", "|---|---|---|---|"]
    for f in figures:
        met = {True: "yes", False: "**no**", None: ""}[f.met]
        name = f"{f.name} ({f.note})" if f.note else f.name
        lines.append(f"| {name} | {f.shown} | {f.target} | {met} |")
    packages = ", ".join(f"{k} {v}" for k, v in info["packages"].items() if v)
    lines += [
        "",
        f"Measured {when} on {info['platform']}, {info['cpu_count']} CPUs, "
        f"Python {info['python']}; {packages}.",
        "",
    ]
    lines += [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"
