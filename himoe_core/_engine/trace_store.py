from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from typing import Any

from .trace_record import TraceRecord


class TraceStore:
    """The most recent request traces, bounded (oldest evicted first), thread-safe.

    Traces are JSON-ready dicts, kept as TraceRecords: atoms that render the dict when first
    read. Only the newest `window` records may keep that dict; older ones are released, because
    a kept dict holds dozens of objects that every full garbage collection walks — 10,000 of
    them made a collection pause 70–160 ms. Shadow results are added to a trace after its
    response left. Every change to a record happens under this store's lock.
    """

    window = 256

    def __init__(self, capacity: int = 10_000) -> None:
        if not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"TraceStore capacity must be a positive integer, got {capacity!r}")
        self.capacity = capacity
        self._lock = threading.Lock()
        self._traces: dict[str, TraceRecord] = {}  # insertion order: oldest first
        self._newest: deque[TraceRecord] = deque()

    def put(self, trace: TraceRecord | dict[str, Any]) -> None:
        """Keep a trace (evicting the oldest past capacity)."""
        record = trace if type(trace) is TraceRecord else TraceRecord.of(trace)
        with self._lock:
            traces = self._traces
            traces.pop(record.trace_id, None)  # a trace put again becomes the newest
            traces[record.trace_id] = record
            if len(traces) > self.capacity:
                del traces[next(iter(traces))]
            newest = self._newest
            newest.append(record)
            if len(newest) > self.window:
                newest.popleft().release()

    def update(self, trace_id: str, change: Callable[[dict[str, Any]], None]) -> bool:
        """Apply `change` to a stored trace under the lock; False if it was evicted."""
        with self._lock:
            record = self._traces.get(trace_id)
            if record is None:
                return False
            data = record.data()
            change(data)
            record.replace(data)
            if record.released:  # it stays out of the collector's way (a shadow may answer long after)
                record.release()
            return True

    def record(self, trace_id: str) -> TraceRecord | None:
        """The stored record itself (not a copy), or None when unknown or evicted."""
        with self._lock:
            return self._traces.get(trace_id)

    def json(self, record: TraceRecord) -> str:
        """JSON text of a stored trace, taken under the lock when an update could be changing it."""
        if not record.changed:
            return record.json()
        with self._lock:
            return record.json()

    def owned(self, record: TraceRecord) -> dict[str, Any]:
        """A trace dict that only the caller holds (the state writer's, read in its thread):
        rendered again from the atoms, or, for a changed trace, a copy taken under the lock."""
        if not record.changed:
            return record.rendered()
        with self._lock:
            return record.copy()

    def get(self, trace_id: str) -> dict[str, Any] | None:
        """A deep copy of the trace, or None when unknown or evicted."""
        with self._lock:
            record = self._traces.get(trace_id)
            return record.copy() if record is not None else None

    def __len__(self) -> int:
        with self._lock:
            return len(self._traces)

    def recent(self, n: int = 100) -> list[dict[str, Any]]:
        """Copies of the last `n` traces, oldest first."""
        with self._lock:
            return [record.copy() for record in list(self._traces.values())[-n:]]
