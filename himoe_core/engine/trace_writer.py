from __future__ import annotations

import queue
import threading
from typing import Any, Callable

from ..errors import StateError


class TraceWriter:
    """Writes batches of traces to the state file from a thread of its own, so that neither
    JSON encoding nor SQLite ever blocks the event loop. Owned by a FeedbackTrainer, which
    drains it before reading and closes it on close; a write that fails is reported on the
    next `drain`, never lost silently."""

    def __init__(self, write: Callable[[list[Any]], None]) -> None:
        self._write = write
        self._queue: queue.Queue[list[Any] | None] = queue.Queue()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="himoe-trace-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            batch = self._queue.get()
            try:
                if batch is None:
                    return
                self._write(batch)
            except BaseException as exc:  # kept for the next drain(); the thread goes on
                self._error = exc
            finally:
                self._queue.task_done()

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
