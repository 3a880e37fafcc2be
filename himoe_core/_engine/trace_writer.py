from __future__ import annotations

import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

from .._errors import StateError

MAX_MERGED = 4096
"""At most this many queued items are written in one call (one transaction)."""
_ARM: list[Any] = []
"""Queued by `arm()`: an empty batch, known by identity."""


class TraceWriter:
    """Writes batches of traces to the state file from a thread of its own, so that neither
    JSON encoding nor SQLite ever blocks the event loop. Owned by a FeedbackTrainer, which
    drains it before reading and closes it on close; a write that fails is reported on the
    next `drain`, never lost silently.

    Batches that queued up while a write ran are merged into the next one: beside a busy event
    loop this thread waits up to the GIL's switch interval (5 ms) after every SQLite call, so a
    writer that wrote batch by batch fell further behind the more traces were waiting (21,856
    after 100,000 overloaded requests); merged, each transaction costs those waits once.

    With `every_s`, once `arm()` said that something waits in the owner's memory, the thread
    calls `due()` within `every_s` (between writes): the owner submits there what waited, so that
    nothing waits longer than `every_s` (plus the writes before it) however slowly items come.
    While `due()` finds something (it returns True), the thread stays armed and calls it again
    `every_s` later: under steady traffic the owner arms it once, not once a batch (each wake-up
    of this thread beside a busy event loop costs about a millisecond of CPU). Once `due()` finds
    nothing, the thread sleeps until a batch comes or it is armed again: an idle engine costs no
    wake-ups.
    """

    def __init__(
        self, write: Callable[[list[Any]], None], *, every_s: float | None = None, due: Callable[[], bool] | None = None
    ) -> None:
        self._write = write
        self._every_s = every_s
        self._due = due
        self._next_due: float | None = None  # when `due()` is to be called; None: not armed
        self._queue: queue.Queue[list[Any] | None] = queue.Queue()
        self._error: BaseException | None = None  # the first failure since the last drain
        self._lost = self._saved = 0
        self._thread = threading.Thread(target=self._run, name="himoe-trace-writer", daemon=True)
        self._thread.start()

    def arm(self) -> None:
        """Something now waits in the owner's memory: call `due()` within `every_s`."""
        self._queue.put(_ARM)

    def _got(self, item: list[Any] | None) -> list[Any] | None:
        if item is _ARM and self._next_due is None and self._every_s is not None:
            self._next_due = time.monotonic() + self._every_s
        return item

    def _next(self) -> list[Any] | None:
        """The next submitted batch (or the arming mark); on time, `due()` is called first (it may
        submit one)."""
        while True:
            if self._next_due is None:
                return self._got(self._queue.get())
            left = self._next_due - time.monotonic()
            if left <= 0:
                try:
                    assert self._due is not None, "armed only with a due()"
                    again = self._due()
                except Exception as exc:  # reported on the next drain; the thread must go on
                    self._error = self._error or exc
                    again = True  # what waits must still be submitted: tried again at the next tick
                assert self._every_s is not None, "armed only with every_s"
                self._next_due = time.monotonic() + self._every_s if again else None
                continue
            try:
                return self._got(self._queue.get(timeout=left))
            except queue.Empty:
                continue

    def _run(self) -> None:
        while True:
            batches = [self._next()]
            items = len(batches[0] or ())
            while batches[-1] is not None and items < MAX_MERGED:
                try:
                    batches.append(self._got(self._queue.get_nowait()))
                except queue.Empty:
                    break
                items += len(batches[-1] or ())
            taken, closing = len(batches), batches[-1] is None
            try:
                self._write_all([batch for batch in batches if batch])
            finally:
                for _ in range(taken):  # one per get(), empty batches and the close sentinel included
                    self._queue.task_done()
            del batches  # not kept while waiting for the next: its items hold whole requests
            if closing:
                return

    def _write_all(self, batches: list[list[Any]]) -> None:
        """One write for all the batches. If it fails for a reason of its rows (not of the file),
        the rows are halved until the bad ones are found, so that one bad row loses only itself
        (a few more writes per bad row, not one per row). A failure is kept for the next
        drain(); the thread goes on."""
        items = [item for batch in batches for item in batch]
        if items:
            self._write_rows(items)

    def _write_rows(self, items: list[Any]) -> None:
        try:
            self._write(items)
            self._saved += len(items)
            return
        except BaseException as exc:
            if len(items) == 1 or _about_the_file(exc):
                self._lost += len(items)
                self._error = self._error or exc
                return
        middle = len(items) // 2
        self._write_rows(items[:middle])
        self._write_rows(items[middle:])

    def submit(self, batch: list[Any]) -> None:
        self._queue.put(batch)

    def drain(self) -> None:
        """Wait until every submitted batch is written; raise if one could not be."""
        self._queue.join()
        self._raise_failure()

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        self._raise_failure()

    def _raise_failure(self) -> None:
        error, lost, saved = self._error, self._lost, self._saved
        self._error, self._lost, self._saved = None, 0, 0
        if error is not None:
            raise StateError(
                f"could not write traces to the state file: {error} ({lost} not saved"
                + (f", {saved} saved)" if saved else ")"),
                transient=getattr(error, "transient", False),
            ) from error


def _about_the_file(exc: BaseException) -> bool:
    """A failure no subset of the rows would avoid: the file is locked, read-only, full or
    damaged. Anything else (a str SQLite cannot encode, a value it cannot bind, a trace that
    cannot be rendered) is a fault of some row."""
    return isinstance(exc, (StateError, sqlite3.OperationalError, OSError, MemoryError, KeyboardInterrupt, SystemExit))
