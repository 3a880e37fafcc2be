from __future__ import annotations

import threading
import time
from typing import Any

import attrs

from .._context import Context
from .._experts.expert_aux import ExpertAux
from .._experts.expert_out import ExpertOut
from .._input import InputData
from .._value import Value, to_value


@attrs.define
class BlockingExpert:
    """A plain ``def infer`` (so it runs in a worker thread) that blocks for `seconds` of real
    time, then answers `value`.

    With `honour_cancel` it waits on ``ctx.cancel`` instead of sleeping, and returns early once
    the request's token is cancelled (at the deadline, or by the caller); without it, it
    ignores cancellation entirely, like a blocking library call. Thread-safe records:
    `thread_ids` (the worker thread of each call), `cancel_seen` (whether each call saw its
    token cancelled when it ended); `done` is set when any call returns.

    Test it on the real clock: under ``trio.testing.MockClock(autojump_threshold=0)`` the clock
    jumps to the next deadline as soon as the trio loop idles while the worker thread works, so
    every blocking call looks like it overran its budget.
    """

    name: str
    seconds: float = 0.1
    value: Value = attrs.field(default=Value.text("ok"), converter=to_value)
    honour_cancel: bool = False
    prefix: str = ""
    confidence: float = 1.0
    cost_units: float = 0.0
    max_concurrency: int = 4
    domain: str = "testing"
    thread_ids: list[int] = attrs.field(factory=list, init=False)
    cancel_seen: list[bool] = attrs.field(factory=list, init=False)
    done: threading.Event = attrs.field(factory=threading.Event, init=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False, repr=False)

    def can_handle(self, task: str) -> bool:
        return task.startswith(self.prefix)

    @property
    def calls(self) -> int:
        with self._lock:
            return len(self.thread_ids)

    def infer(self, x: InputData, ctx: Context) -> Any:
        with self._lock:
            self.thread_ids.append(threading.get_ident())
        try:
            if self.honour_cancel:
                ctx.cancel.wait(self.seconds)
            else:
                time.sleep(self.seconds)
            with self._lock:
                self.cancel_seen.append(ctx.cancel.is_cancelled())
            return ExpertOut(self.value, ExpertAux(cost_units=self.cost_units, confidence=self.confidence))
        finally:
            self.done.set()
