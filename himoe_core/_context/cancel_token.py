from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class CancelToken:
    """A thread-safe, cooperative cancellation signal shared by a whole request.

    `cancel()` may be called from any thread. Code that runs long checks `is_cancelled()` (or
    blocks in `wait()`); the engine also subscribes with `on_cancel` so that cancelling stops the
    trio scopes in flight at once. Once cancelled, a token stays cancelled.
    """

    __slots__ = ("_cancelled", "_event", "_lock", "_callbacks", "_reason", "_next_key")

    def __init__(self) -> None:
        self._cancelled = False
        # Made by the first `wait()`: most tokens are only polled, and an Event costs more to
        # make than the whole rest of the token.
        self._event: threading.Event | None = None
        self._lock = threading.Lock()
        # Keyed by subscription, not by callback: the same callable may subscribe twice.
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._next_key = 0  # an int, not itertools.count: one object fewer for the collector per request
        self._reason = ""

    def cancel(self, reason: str = "") -> None:
        """Cancel the token and run every callback once (in subscription order).

        A callback that raises does not stop the others; the first error is re-raised after
        all of them ran.
        """
        with self._lock:
            if self._cancelled:
                return
            self._reason = reason
            self._cancelled = True
            if self._event is not None:
                self._event.set()
            callbacks = list(self._callbacks.values())
            self._callbacks.clear()
        error: BaseException | None = None
        for callback in callbacks:
            try:
                callback()
            except BaseException as exc:  # noqa: BLE001 - re-raised below, once all have run
                if error is None:
                    error = exc
        if error is not None:
            raise error

    def is_cancelled(self) -> bool:
        """Whether `cancel()` was called (cheap; poll it in long loops)."""
        return self._cancelled

    @property
    def reason(self) -> str:
        return self._reason

    def wait(self, timeout: float | None = None) -> bool:
        """Block the calling thread until cancelled or `timeout` seconds; True if cancelled."""
        with self._lock:
            if self._cancelled:
                return True
            if self._event is None:
                self._event = threading.Event()
            event = self._event
        return event.wait(timeout)

    def on_cancel(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call `callback` (from the cancelling thread) once, when cancelled.

        Runs it at once if the token is already cancelled. Returns a function that unsubscribes.
        """
        with self._lock:
            if not self._cancelled:
                key = self._next_key
                self._next_key += 1
                self._callbacks[key] = callback
                return lambda: self._unsubscribe(key)
        callback()
        return lambda: None

    def link(self, scope: Any) -> Callable[[], None]:
        """Cancel the trio cancel `scope` as soon as this token is cancelled, from whatever
        thread cancels it. Call from inside the trio run that owns `scope`; returns the function
        that unlinks them."""
        import trio  # here: a token is made and used outside trio too

        trio_token = trio.lowlevel.current_trio_token()

        def cancel() -> None:
            try:
                trio_token.run_sync_soon(scope.cancel)
            except trio.RunFinishedError:
                pass

        return self.on_cancel(cancel)

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
