from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest
from hypothesis import settings

from importer.config import Settings
from importer.sandbox import DEMO_LOCATION

# CI must not fail on a case the last developer never saw: there the examples are derived from
# the tests themselves (the same every run); on a developer's machine they are new each time.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeTime:
    """A clock that only moves when someone sleeps: retries and pauses cost no real time."""

    def __init__(self) -> None:
        self.now = 0.0

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


def demo_settings(tmp_path: Path, **changes: object) -> Settings:
    """Settings for the demo location, results under tmp_path."""
    values: dict[str, object] = {
        "location_id": DEMO_LOCATION,
        "association": "student_teacher",
        "first_column": "Student ID",
        "second_column": "Teacher ID",
        "out": tmp_path / "results.csv",
    }
    values.update(changes)
    return Settings.model_validate(values)


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as file:
        csv.writer(file).writerows(rows)
    return path


def read_results(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as file:
        return list(csv.DictReader(file))


@pytest.fixture(autouse=True)
def _english(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests compare English output: a Spanish locale on the machine must not change it (the
    Spanish tests ask for Spanish with --lang)."""
    monkeypatch.setenv("RELIMPORT_LANG", "en")
