from __future__ import annotations

import copy
import json
import threading
from typing import Any, Callable

from .trace_record import TraceRecord


class TraceStore:
    """The most recent request traces, bounded (oldest evicted first), thread-safe.

    Traces are JSON-ready dicts, kept as TraceRecords that render them when first read; shadow
    results are added to a trace after its response left.
    """

    def __init__(self, capacity: int = 10_000) -> None:
        if not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"TraceStore capacity must be a positive integer, got {capacity!r}")
        self.capacity = capacity
        self._lock = threading.Lock()
        self._traces: dict[str, TraceRecord] = {}  # insertion order: oldest first

    def put(self, trace: TraceRecord | dict[str, Any]) -> None:
        """Keep a trace (evicting the oldest past capacity)."""
        record = TraceRecord.of(trace)
        with self._lock:
            traces = self._traces
            traces.pop(record.trace_id, None)  # a trace put again becomes the newest
            traces[record.trace_id] = record
            if len(traces) > self.capacity:
                del traces[next(iter(traces))]

    def update(self, trace_id: str, change: Callable[[dict[str, Any]], None]) -> bool:
        """Apply `change` to a stored trace under the lock; False if it was evicted."""
        with self._lock:
            record = self._traces.get(trace_id)
            if record is None:
                return False
            change(record.data())
            return True

    def to_json(self, trace: TraceRecord | dict[str, Any]) -> str:
        """JSON text of a trace, taken under the lock so a concurrent update cannot tear it."""
        data = TraceRecord.of(trace).data()
        with self._lock:
            return json.dumps(data)

    def get(self, trace_id: str) -> dict[str, Any] | None:
        """A deep copy of the trace, or None when unknown or evicted."""
        with self._lock:
            record = self._traces.get(trace_id)
            return copy.deepcopy(record.data()) if record is not None else None

    def __len__(self) -> int:
        with self._lock:
            return len(self._traces)

    def recent(self, n: int = 100) -> list[dict[str, Any]]:
        """Copies of the last `n` traces, oldest first."""
        with self._lock:
            return [copy.deepcopy(record.data()) for record in list(self._traces.values())[-n:]]
