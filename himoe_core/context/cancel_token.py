from __future__ import annotations

import threading
from typing import Callable


class CancelToken:
    """A thread-safe, cooperative cancellation signal shared by a whole request.

    `cancel()` may be called from any thread. Code that runs long checks `is_cancelled()` (or
    blocks in `wait()`); the engine also subscribes with `on_cancel` so that cancelling stops the
    trio scopes in flight at once. Once cancelled, a token stays cancelled.
    """

    __slots__ = ("_event", "_lock", "_callbacks", "_reason")

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._reason = ""

    def cancel(self, reason: str = "") -> None:
        with self._lock:
            if self._event.is_set():
                return
            self._reason = reason
            self._event.set()
            callbacks = list(self._callbacks.values())
            self._callbacks.clear()
        for callback in callbacks:
            callback()

    def is_cancelled(self) -> bool:
        return self._event.is_set()

    @property
    def reason(self) -> str:
        return self._reason

    def wait(self, timeout: float | None = None) -> bool:
        """Block the calling thread until cancelled or `timeout` seconds; True if cancelled."""
        return self._event.wait(timeout)

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` (from the cancelling thread) once, when cancelled.

        Runs it at once if the token is already cancelled. Returns a function that unsubscribes.
        """
        with self._lock:
            if not self._event.is_set():
                key = id(callback)
                self._callbacks[key] = callback
                return lambda: self._unsubscribe(key)
        callback()
        return lambda: None

    def child(self) -> tuple[CancelToken, Callable[[], None]]:
        """A token cancelled when this one is (and on its own); and a function that detaches it.

        The engine hands experts a child per request so it can stop its own stragglers without
        cancelling the caller's token; detach it when the request ends.
        """
        child = CancelToken()
        detach = self.on_cancel(lambda: child.cancel(self._reason))
        return child, detach

    def _unsubscribe(self, key: int) -> None:
        with self._lock:
            self._callbacks.pop(key, None)

    def __repr__(self) -> str:
        return f"CancelToken(cancelled={self.is_cancelled()})"
