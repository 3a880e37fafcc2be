from __future__ import annotations

import threading
from typing import Any, Callable


class TraceRecord:
    """One request's trace, rendered into its JSON-ready dict when first read.

    Rendering a trace costs more than the rest of a fast request's bookkeeping, and most traces
    are never read, or only later by the state writer's thread. Every reader gets the same dict
    (shadow results are added to it after the response left).
    """

    __slots__ = ("trace_id", "_render", "_data")
    _setting = threading.Lock()  # held only to publish a render, never while rendering

    def __init__(self, trace_id: str, render: Callable[[], dict[str, Any]] | None = None,
                 data: dict[str, Any] | None = None) -> None:
        if (render is None) == (data is None):
            raise ValueError("TraceRecord needs either a render function or the trace dict")
        self.trace_id = trace_id
        self._render = render
        self._data = data

    @classmethod
    def of(cls, trace: TraceRecord | dict[str, Any]) -> TraceRecord:
        """A record for a trace dict (a record stays itself)."""
        return trace if isinstance(trace, TraceRecord) else cls(trace["trace_id"], data=trace)

    def data(self) -> dict[str, Any]:
        """The trace dict, rendered on the first call (thread-safe).

        Rendering runs outside any lock: the trio thread must never wait for a writer thread
        that the GIL has paused mid-render. Two threads may render the same record at once;
        the first to publish wins and both return its dict.
        """
        data = self._data
        if data is None:
            render = self._render
            rendered = render() if render is not None else None
            with TraceRecord._setting:
                if self._data is None:
                    self._data = rendered
                    self._render = None  # let the request's objects go
                data = self._data
        return data

    def __repr__(self) -> str:
        return f"TraceRecord({self.trace_id!r}, rendered={self._data is not None})"
