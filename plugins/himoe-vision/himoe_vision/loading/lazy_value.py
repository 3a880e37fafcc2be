from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from himoe_core import Cancelled, CancelToken

T = TypeVar("T")

_POLL_SECONDS = 0.05


class LazyValue(Generic[T]):
    """A value built once, on first use, thread-safely (a lock and a double-checked attribute).

    Callers that wait while another thread builds it poll their CancelToken, so a cancelled
    request stops waiting instead of blocking until the build ends.
    """

    def __init__(self, build: Callable[[], T]) -> None:
        self._build = build
        self._value: T | None = None
        self._lock = threading.Lock()

    def get(self, cancel: CancelToken | None = None) -> T:
        value = self._value
        if value is not None:
            return value
        while not self._lock.acquire(timeout=_POLL_SECONDS):
            _check(cancel)
        try:
            if self._value is None:
                _check(cancel)
                self._value = self._build()
            return self._value
        finally:
            self._lock.release()

    def set(self, value: T) -> None:
        """Replace the value (e.g. with weights loaded from a saved state)."""
        with self._lock:
            self._value = value

    def is_built(self) -> bool:
        return self._value is not None


def _check(cancel: CancelToken | None) -> None:
    if cancel is not None and cancel.is_cancelled():
        raise Cancelled(cancel.reason or "while waiting for the model to be trained")
