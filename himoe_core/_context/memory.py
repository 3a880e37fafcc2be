from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

_MISSING = object()


class Memory:
    """A bounded key-value store shared through a Context: least-recently-used eviction past
    `max_items`, and entries that expire `ttl_s` seconds after they were written.

    Thread-safe. Reads refresh recency, not the expiry time.
    """

    def __init__(
        self, max_items: int = 1024, ttl_s: float = 3600.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if not isinstance(max_items, int) or isinstance(max_items, bool) or max_items <= 0:
            raise ValueError(f"Memory max_items must be a positive integer, got {max_items!r}")
        if not isinstance(ttl_s, (int, float)) or not ttl_s > 0:
            raise ValueError(f"Memory ttl_s must be a positive number of seconds, got {ttl_s!r}")
        self.max_items = max_items
        self.ttl_s = float(ttl_s)
        self._clock = clock
        self._lock = threading.Lock()
        self._items: OrderedDict[str, tuple[float, Any]] = OrderedDict()

    def set(self, key: str, value: Any) -> None:
        """Store `value` under `key` (evicting the least recently used past `max_items`)."""
        with self._lock:
            self._items[key] = (self._clock() + self.ttl_s, value)
            self._items.move_to_end(key)
            self._purge_expired()
            while len(self._items) > self.max_items:
                self._items.popitem(last=False)

    def get(self, key: str, default: Any = None) -> Any:
        """The value under `key`, or `default` when absent or expired."""
        with self._lock:
            entry = self._items.get(key)
            if entry is None:
                return default
            expires_at, value = entry
            if expires_at <= self._clock():
                del self._items[key]
                return default
            self._items.move_to_end(key)
            return value

    def delete(self, key: str) -> None:
        """Forget `key`."""
        with self._lock:
            self._items.pop(key, None)

    def __contains__(self, key: str) -> bool:
        return self.get(key, _MISSING) is not _MISSING

    def __len__(self) -> int:
        with self._lock:
            self._purge_expired()
            return len(self._items)

    def _purge_expired(self) -> None:
        now = self._clock()
        # Entries are kept in write order unless read; a full scan is bounded by max_items.
        expired = [key for key, (expires_at, _) in self._items.items() if expires_at <= now]
        for key in expired:
            del self._items[key]
