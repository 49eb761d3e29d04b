"""A run holds a lock and a pool of connections per location: the command raises its own
limit of open files first, within what the system allows."""

from __future__ import annotations

import subprocess
import sys

import pytest

resource = pytest.importorskip("resource")  # Unix only

PROBE = (
    "import resource\n"
    "from importer.cli import raise_open_file_limit\n"
    "after = raise_open_file_limit()\n"
    "print(after, resource.getrlimit(resource.RLIMIT_NOFILE)[0])\n"
)


def _with_soft_limit(soft: int) -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


def test_the_soft_limit_of_open_files_is_raised_up_to_the_hard_one() -> None:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard <= 256:
        pytest.skip("the hard limit leaves nothing to raise")
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        preexec_fn=lambda: _with_soft_limit(256),
        capture_output=True,
        text=True,
        check=True,
    )
    reported, now = map(int, done.stdout.split())
    wanted = 65_536 if hard == resource.RLIM_INFINITY else min(65_536, hard)
    assert reported == now == wanted
