"""The state store from trio code: its calls block (SQLite's file, PostgreSQL's network), so they
run in worker threads, a bounded number per trio run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import trio

T = TypeVar("T")

STATE_THREADS = 4
"""Threads per trio run calling the store at once (the PostgreSQL pool holds 8 connections)."""

_LIMITER: trio.lowlevel.RunVar[trio.CapacityLimiter] = trio.lowlevel.RunVar("himoe_state_limiter")


def state_limiter() -> trio.CapacityLimiter:
    """This trio run's limiter for state store calls."""
    try:
        return _LIMITER.get()
    except LookupError:
        limiter = trio.CapacityLimiter(STATE_THREADS)
        _LIMITER.set(limiter)
        return limiter


async def state_call(fn: Callable[..., T], *args: Any) -> T:
    """`fn(*args)` in a worker thread, under this run's state limiter."""
    return await trio.to_thread.run_sync(fn, *args, limiter=state_limiter())
