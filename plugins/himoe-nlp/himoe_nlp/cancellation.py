"""Cooperative stop points for sync experts that run in worker threads."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from himoe_core import Cancelled, Context, DeadlineExceeded


def checkpoint(ctx: Context, who: str) -> Callable[[], None]:
    """A function that raises Cancelled or DeadlineExceeded once `ctx` says to stop.

    Sync experts call it between units of work, so a cancelled or late request stops using CPU
    at the next unit instead of running to the end in its worker thread.
    """
    expired = deadline_reader(ctx)

    def check() -> None:
        if ctx.cancel.is_cancelled():
            raise Cancelled(ctx.cancel.reason)
        if expired():
            raise DeadlineExceeded(ctx.budget_ms, f"{who} stopped at the deadline")

    return check


def deadline_reader(ctx: Context) -> Callable[[], bool]:
    """A function telling whether `ctx`'s deadline has passed, usable from this thread.

    A Context started inside a trio run reads trio's clock, which only the trio thread may read:
    from a worker thread ``ctx.expired()`` raises RuntimeError. There the remaining time is
    read once through the trio loop and turned into a deadline on the monotonic clock. Outside
    any trio worker thread with such a context, only cancellation can stop the work.
    """
    try:
        ctx.expired()
        return ctx.expired
    except RuntimeError:
        pass
    trio = sys.modules.get("trio")
    try:
        remaining_ms = trio.from_thread.run_sync(ctx.remaining_ms)  # type: ignore[union-attr]
    except Exception:  # not a trio worker thread (or trio gone): no readable clock here
        return lambda: False
    deadline = time.monotonic() + remaining_ms / 1000.0
    return lambda: time.monotonic() >= deadline
