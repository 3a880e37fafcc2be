from __future__ import annotations

import copy
import json
import threading
from typing import Any

from .trace_atoms import render_request

_ENCODER = json.JSONEncoder(check_circular=False, separators=(",", ":"))  # trees; compact: 11 % smaller


class TraceRecord:
    """One request's trace: its atoms (see trace_atoms), taken when the request ended, rendered
    into the JSON-ready dict when first read.

    Until the record is released (see TraceStore) every reader gets the same dict, and changes to
    it (shadow results arrive after the response left) are the trace. Released, a record keeps
    only what the garbage collector need not walk: its atoms, or the JSON text of a changed
    trace; each read then returns a new dict.
    """

    __slots__ = ("trace_id", "router", "_atoms", "_data", "_text", "_changed", "_released")
    _setting = threading.Lock()  # held only to publish a change, never while rendering

    def __init__(self, trace_id: str, atoms: tuple | None = None, data: dict[str, Any] | None = None,
                 router: str | None = None) -> None:
        if (atoms is None) == (data is None):
            raise ValueError("TraceRecord needs either the trace's atoms or the trace dict")
        self.trace_id = trace_id
        self.router = router if data is None else data.get("router")  # the serving router's id, None if it failed
        self._atoms = atoms
        self._data = data
        self._text: str | None = None
        self._changed = data is not None  # the dict is the trace: atoms cannot make it again
        self._released = False

    @classmethod
    def of(cls, trace: TraceRecord | dict[str, Any]) -> TraceRecord:
        """A record for a trace dict (a record stays itself)."""
        return trace if isinstance(trace, TraceRecord) else cls(trace["trace_id"], data=trace)

    def data(self) -> dict[str, Any]:
        """The trace dict: rendered on the first call and shared until the record is released
        (thread-safe); a new dict on each call once it is.

        Rendering runs outside any lock: the trio thread must never wait for a writer thread
        that the GIL has paused mid-render. Two threads may render the same record at once;
        the first to publish wins and both return its dict.
        """
        data = self._data
        if data is not None:
            return data
        text = self._text
        if text is not None:
            return json.loads(text)
        rendered = render_request(self._atoms)
        with TraceRecord._setting:
            if self._data is None and self._text is None and not self._released:
                self._data = rendered
            data, text = self._data, self._text
        if data is not None:
            return data
        return json.loads(text) if text is not None else rendered

    @property
    def released(self) -> bool:
        """Whether the record was released: it keeps no dict, only its atoms or JSON text."""
        return self._released

    @property
    def changed(self) -> bool:
        """Whether the trace was given as a dict or changed since: atoms cannot make it again."""
        return self._changed

    def copy(self) -> dict[str, Any]:
        """A copy of the trace dict that the caller may change freely."""
        data, text = self._data, self._text
        if data is not None:
            return copy.deepcopy(data)
        return json.loads(text) if text is not None else render_request(self._atoms)

    def json(self) -> str:
        """The trace as JSON text (what the state file stores). A changed trace may be changed
        again meanwhile: its owner calls this under the lock it changes it under."""
        data, text = self._data, self._text  # in this order: `release` sets the text first
        if data is not None and self._changed:
            return _ENCODER.encode(data)
        if text is not None:
            return text
        return _ENCODER.encode(render_request(self._atoms))  # atoms never change: no lock needed

    def release(self) -> None:
        """Let the dict go: a changed trace is kept as JSON text, any other is made again from
        its atoms when read."""
        data = self._data
        text = _ENCODER.encode(data) if data is not None and self._changed else None
        with TraceRecord._setting:
            self._released = True
            if data is not None and self._data is data:
                if text is not None:
                    self._text = text  # before the dict goes: readers look at the dict first
                self._data = None

    def replace(self, data: dict[str, Any]) -> None:
        """Make `data` the trace (kept as a dict until the record is released again)."""
        with TraceRecord._setting:
            self._changed = True
            self._data = data
            self._text = None

    def __repr__(self) -> str:
        state = ("changed" if self._changed else "rendered") if self._data is not None else (
            "released as JSON" if self._text is not None else "released" if self._released else "atoms")
        return f"TraceRecord({self.trace_id!r}, {state})"
