from __future__ import annotations

import threading
from typing import Any

import attrs

from .._context import Context
from .._input import InputData


@attrs.define
class StuckThreadExpert:
    """A plain ``def infer`` that wedges its worker thread: it blocks until `release()` is
    called, whatever the deadline or the request's cancel token says — a blocking library call
    that never returns. The router abandons the thread at the deadline; the expert's thread
    limiter (`max_concurrency`) keeps such threads from piling up.

    Thread-safe records: `started` (calls that entered their thread), `running` (blocked now),
    `peak_running` (most blocked at once). Call `release()` at the end of a test so the threads
    finish (each then answers `value`, which nobody reads any more).
    """

    name: str
    value: Any = "released"
    prefix: str = ""
    max_concurrency: int = 4
    cost_units: float = 0.0
    domain: str = "testing"
    started: int = attrs.field(default=0, init=False)
    running: int = attrs.field(default=0, init=False)
    peak_running: int = attrs.field(default=0, init=False)
    _released: threading.Event = attrs.field(factory=threading.Event, init=False, repr=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False, repr=False)

    def can_handle(self, task: str) -> bool:
        return task.startswith(self.prefix)

    def infer(self, x: InputData, ctx: Context) -> Any:
        with self._lock:
            self.started += 1
            self.running += 1
            self.peak_running = max(self.peak_running, self.running)
        try:
            self._released.wait()  # never looks at ctx.cancel
            return self.value
        finally:
            with self._lock:
                self.running -= 1

    def release(self) -> None:
        """Let every blocked call (and every later one) return."""
        self._released.set()
