"""The committed samples are what scripts/make_samples.py makes, and match the sandbox's seed."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import openpyxl

from importer.sandbox import demo_seed
from tests.conftest import REPO, SAMPLES


def make_samples() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_samples", REPO / "scripts/make_samples.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_csv_samples_are_generated(tmp_path: Path) -> None:
    module = make_samples()
    for name, rows in [
        ("relations.csv", module.clean_rows()),
        ("relations-with-problems.csv", module.problem_rows()),
        ("students-by-email.csv", module.key_rows()),
        ("deals-two-locations.csv", module.deal_rows()),
    ]:
        module.write_csv(tmp_path / name, rows)
        assert (tmp_path / name).read_bytes() == (SAMPLES / name).read_bytes(), name


def test_the_xlsx_sample_holds_the_same_rows_as_text() -> None:
    book = openpyxl.load_workbook(SAMPLES / "relations.xlsx", read_only=True)
    try:
        rows = [[cell or "" for cell in row] for row in book.active.iter_rows(values_only=True)]
    finally:
        book.close()
    assert rows == make_samples().clean_rows()


def test_the_sample_ids_exist_in_the_sandbox_seed() -> None:
    records = {r.id for location in demo_seed().locations for r in location.records}
    for row in make_samples().clean_rows()[1:]:
        assert row[0] in records and row[1] in records


def test_the_deals_sample_ids_exist_in_their_locations() -> None:
    records = {(loc.id, r.id) for loc in demo_seed().locations for r in loc.records}
    for location, deal, contact in make_samples().deal_rows()[1:]:
        assert (location, deal) in records and (location, contact) in records
