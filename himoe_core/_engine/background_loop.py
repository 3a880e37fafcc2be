from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import trio

from .._errors import Cancelled

T = TypeVar("T")


class BackgroundLoop:
    """A trio run in a thread of its own, owned by a HiMoE, so that plain code and other event
    loops can call the async engine from any thread (`call`), and background work (shadow
    routers) has a nursery that outlives one call. `close()` cancels it and joins the thread;
    calls still running then raise Cancelled."""

    def __init__(self, name: str = "himoe-loop") -> None:
        self._ready = threading.Event()
        self._token: trio.lowlevel.TrioToken | None = None
        self._nursery: trio.Nursery | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name=name, daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise RuntimeError(f"himoe background loop failed to start: {self._error}")

    def _main(self) -> None:
        try:
            trio.run(self._serve)
        except BaseException as exc:  # reported to the starting thread, not lost
            self._error = exc
            self._ready.set()

    async def _serve(self) -> None:
        async with trio.open_nursery() as nursery:
            self._token = trio.lowlevel.current_trio_token()
            self._nursery = nursery
            self._ready.set()
            await trio.sleep_forever()

    @property
    def nursery(self) -> trio.Nursery | None:
        return self._nursery

    def is_current(self) -> bool:
        """Whether the calling code runs inside this loop."""
        try:
            return trio.lowlevel.current_trio_token() is self._token
        except RuntimeError:
            return False

    def call(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run `fn(*args)` on the loop and return its result, from any other thread."""
        if self._token is None or not self._thread.is_alive():
            raise RuntimeError("this HiMoE is closed; create a new one")
        try:
            return trio.from_thread.run(fn, *args, trio_token=self._token)
        except (trio.Cancelled, trio.RunFinishedError, BaseExceptionGroup) as exc:
            # close() cancelled the loop under this call: the caller gets a MoeError it can
            # catch, not trio's own exceptions (an `except Exception` misses Cancelled).
            if isinstance(exc, BaseExceptionGroup) and not exc.subgroup(
                lambda e: isinstance(e, (trio.Cancelled, trio.RunFinishedError))
            ):
                raise
            raise Cancelled("the engine was closed while this request ran (HiMoE.close)") from None

    def start_soon(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Start a background task in the loop's nursery (cancelled by `close`), from any other thread."""
        nursery = self._nursery
        assert nursery is not None and self._token is not None, "the loop is running once __init__ returns"
        trio.from_thread.run_sync(nursery.start_soon, fn, *args, trio_token=self._token)

    def close(self) -> None:
        if self._token is not None and self._nursery is not None and self._thread.is_alive():
            try:
                self._token.run_sync_soon(self._nursery.cancel_scope.cancel)
            except trio.RunFinishedError:
                pass
            self._thread.join(timeout=5)
        self._token = None
