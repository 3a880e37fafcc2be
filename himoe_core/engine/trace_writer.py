from __future__ import annotations

import queue
import threading
from typing import Any, Callable

from ..errors import StateError


MAX_MERGED = 4096
"""At most this many queued items are written in one call (one transaction)."""


class TraceWriter:
    """Writes batches of traces to the state file from a thread of its own, so that neither
    JSON encoding nor SQLite ever blocks the event loop. Owned by a FeedbackTrainer, which
    drains it before reading and closes it on close; a write that fails is reported on the
    next `drain`, never lost silently.

    Batches that queued up while a write ran are merged into the next one: beside a busy event
    loop this thread waits up to the GIL's switch interval (5 ms) after every SQLite call, so a
    writer that wrote batch by batch fell further behind the more traces were waiting (21,856
    after 100,000 overloaded requests); merged, each transaction costs those waits once.
    """

    def __init__(self, write: Callable[[list[Any]], None]) -> None:
        self._write = write
        self._queue: queue.Queue[list[Any] | None] = queue.Queue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="himoe-trace-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            batches = [self._queue.get()]
            items = len(batches[0] or ())
            while batches[-1] is not None and items < MAX_MERGED:
                try:
                    batches.append(self._queue.get_nowait())
                except queue.Empty:
                    break
                items += len(batches[-1] or ())
            taken, closing = len(batches), batches[-1] is None
            try:
                self._write_all([batch for batch in batches if batch])
            finally:
                for _ in range(taken):  # one per get(), empty batches and the close sentinel included
                    self._queue.task_done()
            if closing:
                return

    def _write_all(self, batches: list[list[Any]]) -> None:
        """One write for all the batches; if it fails, one per batch, so that one bad batch
        loses only itself. A failure is kept for the next drain(); the thread goes on."""
        if not batches:
            return
        try:
            self._write([item for batch in batches for item in batch])
            return
        except BaseException as exc:
            if len(batches) == 1:
                self._error = exc
                return
        for batch in batches:
            try:
                self._write(batch)
            except BaseException as exc:
                self._error = exc

    def submit(self, batch: list[Any]) -> None:
        self._queue.put(batch)

    def drain(self) -> None:
        """Wait until every submitted batch is written; raise if one could not be."""
        self._queue.join()
        error, self._error = self._error, None
        if error is not None:
            raise StateError(f"could not write traces to the state file: {error}") from error

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join()
        error, self._error = self._error, None
        if error is not None:
            raise StateError(f"could not write traces to the state file: {error}") from error
