"""The benchmark suite still runs: its smoke version writes both files with every figure.

The figures themselves are never asserted: they measure the machine, not the code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

FIGURES = [
    "rate.honest.ratio",
    "rate.honest.rate_limited",
    "rate.honest.max_in_window",
    "rate.honest.rows_lost",
    "rate.real.ratio",
    "rate.real.rate_limited",
    "rate.real.max_in_window",
    "rate.real.rows_lost",
    "rate.stricter.rows_lost",
    "rate.stricter.rate_limited",
    "rate.drops.rows_lost",
    "rate.drops.rate_limited",
    *(f"locations.{n}.{what}" for n in (1, 4) for what in ("ratio", "per_location")),
    "per_row.clean",
    "per_row.rerun",
    *(
        f"overhead.{latency}.{name}"
        for latency in ("0ms", "latency")
        for name in (
            "relimport.rows_per_s",
            "httpx_loop.rows_per_s",
            "sdk_plain.rows_per_s",
            "sdk_retry.rows_per_s",
            "ratio_httpx",
            "ratio_plain",
            "ratio_retry",
        )
    ),
    *(f"overhead.cpu_per_1000.{n}" for n in ("relimport", "httpx_loop", "sdk_plain", "sdk_retry")),
    *(f"limited.{n}.created" for n in ("relimport", "sdk_plain", "sdk_retry")),
    *(
        f"files.{kind}.{size}.{what}"
        for kind in ("csv", "xlsx")
        for size in ("small", "large")
        for what in ("seconds", "peak_rss_mb")
    ),
    *(f"nightly.{way}.night2_requests" for way in ("ledger", "no_ledger", "skip_existing")),
    *(f"nightly.{way}.night1_seconds" for way in ("ledger", "no_ledger")),
    "files.csv.rss_growth",
    "files.xlsx.rss_growth",
]


@pytest.mark.slow
def test_the_smoke_run_writes_every_figure(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(tmp_path)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert sorted(f["key"] for f in results["figures"]) == sorted(FIGURES)
    assert all(f["value"] is not None for f in results["figures"])
    assert set(results["machine"]) >= {"platform", "cpu_count", "python", "packages"}
    assert results["parameters"]["smoke"] is True
    table = (tmp_path / "results.md").read_text(encoding="utf-8")
    assert table.startswith("| figure | value | target | met? |\n")
    assert table.count("\n| ") == len(FIGURES)  # one row per figure
