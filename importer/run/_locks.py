"""One run at a time: exclusive locks on a run's result file and on each location it writes.

Two runs of one result file at once would each resume from the other's journal and lose track
of what either created (``undo`` would then leave relations behind); two runs writing one
location at once (a nightly job that overran into the next night, a second shard) would split
its budget and its ledger. So a run that sends holds, for its whole life, a lock on its result
file and one per location, the latter in the state folder (``state_dir``).

The locks are the operating system's (``flock``, or ``LockFileEx`` on Windows, through
filelock): the kernel releases them when their process dies, so a run killed with ``kill -9``
never blocks the next one. A lock file holds its holder's process id, host, start time and
command, for the message of a run that finds it taken; a released lock is emptied, so one found
non-empty when taken was left by a process that died, and the taking run says so.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import socket
import sys
import time
from collections.abc import Callable, Iterable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

from filelock import FileLock, Timeout

from importer.errors import LockedError
from importer.timing import Sleep

POLL_SECONDS = 0.5


def result_lock_path(result_path: Path) -> Path:
    """``results/x-results.csv`` -> ``results/.x-results.csv.lock`` (hidden; it stays, empty,
    once released: removing a lock file lets two runs hold two different files)."""
    return result_path.with_name(f".{result_path.name}.lock")


def location_lock_path(state_dir: Path, target: str, location_id: str) -> Path:
    """One lock per API target and location, in the state folder."""
    digest = hashlib.sha256(f"{target}\n{location_id}".encode()).hexdigest()[:12]
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in location_id)[:40]
    return state_dir / "locks" / f"{safe}-{digest}.lock"


class RunLock:
    """One held lock (``async with``); ``what`` names the locked thing for a person."""

    def __init__(
        self,
        path: Path,
        what: str,
        *,
        wait: float = 0.0,
        sleep: Sleep = asyncio.sleep,
        notice: Callable[[str], None] = lambda message: None,
        results: Path | None = None,
    ) -> None:
        self.path, self.what, self._wait, self._sleep = path, what, wait, sleep
        self._notice = notice
        self._results = results
        self._lock = FileLock(path, thread_local=False, on_acquired=self._sign)

    def _sign(self, fd: int) -> None:
        """Write who holds the lock into the (emptied) lock file."""
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": " ".join(["relimport", *sys.argv[1:]]),
            "results": str(self._results) if self._results is not None else "",
        }
        os.write(fd, json.dumps(holder).encode())
        os.fsync(fd)

    def holder(self) -> dict[str, object]:
        """Who holds (or held) the lock, as it wrote itself into the file ({} if unknown)."""
        try:
            value = json.loads(self.path.read_text(encoding="utf-8") or "{}")
        except (OSError, ValueError):
            return {}
        return value if isinstance(value, dict) else {}

    async def __aenter__(self) -> RunLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise LockedError(
                f"{self.path.parent}: cannot create the folder of the run's locks "
                f"({error.strerror}). Set state_dir in config.yaml to a folder you can write."
            ) from None
        deadline = time.monotonic() + self._wait
        waited = False
        while True:
            left_behind = self.holder()
            try:
                self._lock.acquire(timeout=0)
                break
            except Timeout:
                pass
            except OSError as error:
                raise LockedError(
                    f"{self.path}: cannot lock ({error.strerror}). Check that you may write "
                    "in that folder."
                ) from None
            if time.monotonic() >= deadline:
                raise LockedError(self._busy(waited))
            if not waited:
                self._notice(
                    f"{self.what} is in use by another relimport run "
                    f"({_describe(self.holder())}): waiting up to {self._wait:.0f} s."
                )
            waited = True
            await self._sleep(POLL_SECONDS)
        if left_behind and left_behind.get("pid") != os.getpid():
            self._notice(
                f"{self.what}: the lock left by a run that ended without releasing it "
                f"({_describe(left_behind)}) was taken over."
            )
        return self

    def _busy(self, waited: bool) -> str:
        wait = f"after waiting {self._wait:.0f} s, " if waited else ""
        flag = "a longer --wait-lock" if waited else "--wait-lock SECONDS"
        return (
            f"{wait}{self.what} is in use by another relimport run "
            f"({_describe(self.holder())}). Two runs at once would lose track of what each "
            f"created. Let that run finish (or stop it with Ctrl-C), or pass {flag} to wait "
            "for it."
        )

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        try:  # emptied: a lock file found non-empty was left by a process that died
            with self.path.open("r+b") as file:
                file.truncate(0)
        except OSError:
            pass
        self._lock.release()


def _describe(holder: dict[str, object]) -> str:
    if not holder:
        return "its details are not known yet"
    parts = [f"process {holder.get('pid')} on {holder.get('host')}"]
    if holder.get("started_at"):
        parts.append(f"started {holder['started_at']}")
    if holder.get("results"):
        parts.append(f"writing {holder['results']}")
    return ", ".join(parts)


async def hold_run_locks(
    stack: AsyncExitStack,
    *,
    result_path: Path,
    state_dir: Path,
    target: str,
    locations: Iterable[str],
    wait: float,
    sleep: Sleep = asyncio.sleep,
    notice: Callable[[str], None] = lambda message: None,
) -> None:
    """Take the result file's lock, then each location's (in a fixed order: two runs waiting
    for each other's locations cannot deadlock), for as long as ``stack`` is open."""
    locks = [
        RunLock(
            result_lock_path(result_path),
            str(result_path),
            wait=wait,
            sleep=sleep,
            notice=notice,
            results=result_path,
        )
    ]
    locks += [
        RunLock(
            location_lock_path(state_dir, target, location),
            f"Location {location}",
            wait=wait,
            sleep=sleep,
            notice=notice,
            results=result_path,
        )
        for location in sorted(set(locations))
    ]
    for lock in locks:
        await stack.enter_async_context(lock)
