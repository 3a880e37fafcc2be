from __future__ import annotations

import copy
import json
import threading
from typing import Any, Callable

_ENCODER = json.JSONEncoder(check_circular=False, separators=(",", ":"))  # trees; compact: 11 % smaller


class TraceRecord:
    """One request's trace: rendered into its JSON-ready dict when first read, frozen into JSON
    text once it is old (see TraceStore) or has been written to the state file.

    Rendering a trace costs more than the rest of a fast request's bookkeeping, and most traces
    are never read, or only later by the state writer's thread. Until it is frozen every reader
    gets the same dict (shadow results are added to it after the response left). Freezing is
    what keeps a full trace store cheap: a kept dict holds about a hundred references that every
    full garbage collection walks (10,000 kept traces made each one take ~70 ms, a pause every
    request in flight would wait out), a string holds none.
    """

    __slots__ = ("trace_id", "router", "_render", "_data", "_text")
    _setting = threading.Lock()  # held only to publish a change, never while rendering

    def __init__(self, trace_id: str, render: Callable[[], dict[str, Any]] | None = None,
                 data: dict[str, Any] | None = None, router: str | None = None) -> None:
        if (render is None) == (data is None):
            raise ValueError("TraceRecord needs either a render function or the trace dict")
        self.trace_id = trace_id
        self.router = router if data is None else data.get("router")  # the serving router's id, None if it failed
        self._render = render
        self._data = data
        self._text: str | None = None

    @classmethod
    def of(cls, trace: TraceRecord | dict[str, Any]) -> TraceRecord:
        """A record for a trace dict (a record stays itself)."""
        return trace if isinstance(trace, TraceRecord) else cls(trace["trace_id"], data=trace)

    def data(self) -> dict[str, Any]:
        """The trace dict, rendered on the first call (thread-safe); a new dict on each call once
        the record is frozen.

        Rendering runs outside any lock: the trio thread must never wait for a writer thread
        that the GIL has paused mid-render. Two threads may render the same record at once;
        the first to publish wins and both return its dict.
        """
        data = self._data
        if data is not None:
            return data
        text = self._text
        if text is None:
            render = self._render
            rendered = render() if render is not None else None
            with TraceRecord._setting:
                if self._data is None and self._text is None:
                    self._data = rendered
                    self._render = None  # let the request's objects go
                data, text = self._data, self._text
            if data is not None:
                return data
        return json.loads(text)

    @property
    def frozen(self) -> bool:
        """Whether the record keeps only the JSON text."""
        return self._text is not None

    def copy(self) -> dict[str, Any]:
        """A copy of the trace dict that the caller may change freely."""
        text = self._text
        return json.loads(text) if text is not None else copy.deepcopy(self.data())

    def freeze(self) -> str:
        """The trace as JSON text, which from now on is all the record keeps."""
        text = self._text
        if text is None:
            text = _ENCODER.encode(self.data())
            with TraceRecord._setting:
                self._text, self._data, self._render = text, None, None
        return text

    def replace(self, data: dict[str, Any]) -> None:
        """Make `data` the trace (a frozen record thaws)."""
        with TraceRecord._setting:
            self._data, self._text, self._render = data, None, None

    def __repr__(self) -> str:
        state = "frozen" if self._text is not None else "rendered" if self._data is not None else "not rendered"
        return f"TraceRecord({self.trace_id!r}, {state})"
