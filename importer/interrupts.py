"""Ctrl-C and SIGTERM during a run: stop gently the first time, at once the second.

The first signal stops the sender taking rows; requests in flight may finish for
``GRACE_SECONDS``, then what is left is cancelled (a cancelled create stays *in doubt* in the
journal and is looked up on resume). The second signal cancels at once and no result file is
written; the journal stays consistent (SQLite transactions) and the next run writes it.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

from importer.sender import Sender

GRACE_SECONDS = 5.0  # after Ctrl-C, how long requests in flight may take to finish


class Interrupts:
    """First SIGINT/SIGTERM: interrupt gently, cancel what is still in flight after a grace
    period. Second: cancel at once; the journal stays consistent, no result file is written
    (the next run writes it)."""

    def __init__(self, sender: Sender, notice: Callable[[str], None]) -> None:
        self._sender, self._notice = sender, notice
        self.abandoned = False
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()

    def _on_signal(self) -> None:
        if not self._sender.interrupted:
            self._sender.interrupt()
            self._notice(
                "Stopping: no new rows are sent; requests in flight finish "
                f"(at most {GRACE_SECONDS:.0f} s). Press Ctrl-C again to stop at once."
            )
            self._loop.call_later(GRACE_SECONDS, self._cancel)
        else:
            self.abandoned = True
            self._cancel()

    def _cancel(self) -> None:
        if self._task is not None:
            self._task.cancel()

    def __enter__(self) -> Interrupts:
        for number in (signal.SIGINT, signal.SIGTERM):
            self._loop.add_signal_handler(number, self._on_signal)
        return self

    def __exit__(self, *exc_info: object) -> bool:
        for number in (signal.SIGINT, signal.SIGTERM):
            self._loop.remove_signal_handler(number)
        # a cancellation we caused is the end of an interrupted run, not an error
        if exc_info[0] is asyncio.CancelledError and self._sender.interrupted:
            if self._task is not None:
                self._task.uncancel()
            return True
        return False
