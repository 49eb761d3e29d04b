"""Through a real socket: the sandbox served on 127.0.0.1, relimport pointed at it by URL."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from pydantic import SecretStr

from importer.run import run_import
from importer.sandbox import (
    DEMO_LOCATION,
    DEMO_TOKEN,
    STUDENT_TEACHER_ID,
    FaultPlan,
    Limits,
    serve,
)
from tests.conftest import REPO, SAMPLES, demo_settings, read_results
from tests.helpers import assert_settled, fast_retry, grid, grid_file, seeded

pytestmark = pytest.mark.slow


def test_a_run_by_url_respects_the_advertised_burst_and_sends_each_pair_once(
    tmp_path: Path,
) -> None:
    sandbox = seeded(
        60,
        2,
        limits=Limits(burst=15, interval=0.5),
        faults=FaultPlan(drop_after_write_every=9, fail_every=7, latency=0.005),
    )
    pairs = grid(60, 2)
    path = grid_file(tmp_path / "in.csv", pairs)
    with serve(sandbox) as server:
        settings = demo_settings(
            tmp_path,
            target=server.url,
            concurrency=8,
            retry=fast_retry(6),
            rate_limit={"max_requests": 100, "window_seconds": 1},
        ).model_copy(update={"token": SecretStr(DEMO_TOKEN)})
        summary = run_import(path, settings)
    results = read_results(summary.result_path)
    assert len(results) == 120
    assert Counter(r["status"] for r in results) == {"created": 118, "already_exists": 2}
    assert_settled(sandbox, results, len(pairs))
    for s, t in pairs:
        assert sandbox.has_relation(DEMO_LOCATION, STUDENT_TEACHER_ID, s, t)
    stats = sandbox.stats(DEMO_LOCATION)
    assert stats.max_in_window <= 15
    assert stats.rate_limited == 0
    assert stats.dropped > 0 and stats.server_errors > 0


def test_the_commands_of_the_readme_work_across_processes(tmp_path: Path) -> None:
    env = {**os.environ, "LEADWAY_TOKEN": DEMO_TOKEN}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "importer",
            "sandbox",
            "serve",
            "--port",
            "0",
            "--burst",
            "30",
            "--interval",
            "1",
        ],
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=env,
    )
    try:
        assert server.stderr is not None
        line = server.stderr.readline()
        assert line.startswith("Sandbox API on http://127.0.0.1:")
        url = line.split()[3]
        out = tmp_path / "results.csv"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "importer",
                "run",
                str(SAMPLES / "relations.csv"),
                "--base-url",
                url,
                "--out",
                str(out),
            ],
            capture_output=True,
            text=True,
            cwd=REPO,
            env=env,
            timeout=60,
        )
    finally:
        server.terminate()
        server.wait(timeout=10)
        if server.stderr is not None:
            server.stderr.close()
    assert done.returncode == 0, done.stderr
    assert "created               18" in done.stdout
    assert DEMO_TOKEN not in done.stdout + done.stderr
    assert len(read_results(out)) == 20
