from __future__ import annotations

import asyncio
import csv
import os
import selectors
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from hypothesis import settings

from importer.config import Settings
from importer.sandbox import DEMO_LOCATION, DEMO_TOKEN, Sandbox, serve

# CI must not fail on a case the last developer never saw: there the examples are derived from
# the tests themselves (the same every run); on a developer's machine they are new each time.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")


T = TypeVar("T")
REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "samples"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeTime:
    """The tests' one virtual clock: it moves only when someone sleeps (or a test sets
    ``now``), so retries, pauses and whole days cost no real time. ``slept`` lists each
    sleep asked for."""

    def __init__(self, now: float = 0.0) -> None:
        self.now = now
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """An event loop whose clock jumps to the next timer instead of waiting for it: where
    many tasks share a timeline (the limiter, the lanes), ``run(main)`` runs ``main`` on it,
    with ``clock=loop.time`` and ``sleep=asyncio.sleep``, and nothing really sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        loop = self

        class Selector(selectors.DefaultSelector):
            def select(self, timeout: float | None = None) -> Any:
                if timeout is None:
                    raise RuntimeError("deadlock: every task waits and no timer is set")
                loop.now += timeout
                return super().select(0)

        super().__init__(Selector())

    def time(self) -> float:
        return self.now


def run(main: Callable[[], Coroutine[Any, Any, T]]) -> T:
    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        return runner.run(main())


def now() -> float:
    return asyncio.get_running_loop().time()


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


def copy_of_repo(folder: Path) -> Path:
    """``folder`` with a copy of the repository's config.yaml and samples in it."""
    (folder / "samples").mkdir(parents=True)
    (folder / "config.yaml").write_text((REPO / "config.yaml").read_text())
    for sample in SAMPLES.iterdir():
        (folder / "samples" / sample.name).write_bytes(sample.read_bytes())
    return folder


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


@pytest.fixture
def in_repo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Run from a copy of the repository's config and samples, results in tmp_path."""
    monkeypatch.chdir(copy_of_repo(tmp_path))
    monkeypatch.delenv("LEADWAY_TOKEN", raising=False)
    return tmp_path


@pytest.fixture
def server_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A sandbox on loopback: it outlives one run, so a run against it can be resumed."""
    monkeypatch.setenv("LEADWAY_TOKEN", DEMO_TOKEN)
    with serve(Sandbox()) as server:
        yield server.url
