"""Ctrl-C and SIGTERM during a run: stop gently the first time, at once the second.

While the input is only being read, a signal stops the run at once (nothing was sent): the
reading, which runs in a thread, checks :attr:`Interrupts.stop_reading` as it goes. While the
run asks the API what it needs before sending (the association, look-ups, record checks), a
signal cancels the questions in flight; the answers received are kept, and the run writes its
results with every row ``not_sent`` (exit 4), resumable. The first signal while sending stops
the sender taking rows; requests in flight may finish for
``GRACE_SECONDS``, then what is left is cancelled (a cancelled create stays *in doubt* in the
journal and is looked up on resume). The second signal cancels at once and no result file is
written; the journal stays consistent (SQLite transactions) and the next run writes it.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from importer.run._sender import Sender

GRACE_SECONDS = 5.0  # after Ctrl-C, how long requests in flight may take to finish


class Interrupts:
    """Signal handling for one run: ``with Interrupts(notice) as interrupts:`` around it all,
    ``with interrupts.sending(sender):`` around the sending.

    Before the sending starts (reading the file, asking the API for the association), a signal
    stops the run at once: nothing was sent, ``early`` is set and the run raises
    KeyboardInterrupt. During the sending, the first signal interrupts gently and the second
    cancels at once (``abandoned``)."""

    def __init__(self, notice: Callable[[str], None]) -> None:
        self._notice = notice
        self._sender: Sender | None = None
        self._asking = False
        self.early = False
        self.abandoned = False
        #: Set by a signal before the sending: the reading of the input stops at its next row.
        self.stop_reading = threading.Event()
        #: A signal came while the run was asking its questions (none were sent after it).
        self.asked = False
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.current_task()

    def _on_signal(self) -> None:
        if self._asking:
            self.asked = True
            self._notice(
                "Stopping: the questions still open to the API are dropped; the answers "
                "received are kept, and the results are written with every row not_sent."
            )
            self._cancel()
        elif self._sender is None:
            self.early = True
            self.stop_reading.set()
            self._cancel()
        elif not self._sender.interrupted:
            self._sender.interrupt()
            self._notice(
                "Stopping: no new rows are sent; requests in flight finish "
                f"(at most {GRACE_SECONDS:.0f} s). Press Ctrl-C again (or send SIGTERM again) to "
                "stop at once."
            )
            self._loop.call_later(GRACE_SECONDS, self._cancel)
        else:
            self.abandoned = True
            self._cancel()

    def _cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()

    @contextmanager
    def asking(self) -> Iterator[None]:
        """While the run asks the API before sending: a cancellation we caused ends the
        questions (``asked``), not the run."""
        self._asking = True
        try:
            with self._absorbing(lambda: self.asked):
                yield
        finally:
            self._asking = False

    @contextmanager
    def sending(self, sender: Sender) -> Iterator[None]:
        """While the sender runs: a cancellation we caused ends the sending, not the run."""
        self._sender = sender
        with self._absorbing(lambda: sender.interrupted):
            yield

    @contextmanager
    def _absorbing(self, ours: Callable[[], bool]) -> Iterator[None]:
        """A cancellation this handler caused (``ours()``) ends the block, not the run."""
        try:
            yield
        except asyncio.CancelledError:
            if not ours():
                raise
            if self._task is not None:
                self._task.uncancel()

    def __enter__(self) -> Interrupts:
        for number in (signal.SIGINT, signal.SIGTERM):
            self._loop.add_signal_handler(number, self._on_signal)
        return self

    def __exit__(self, *exc_info: object) -> None:
        for number in (signal.SIGINT, signal.SIGTERM):
            self._loop.remove_signal_handler(number)
        if exc_info[0] is asyncio.CancelledError and self.early:
            if self._task is not None:
                self._task.uncancel()
            raise KeyboardInterrupt from None  # nothing was sent: the caller says so
