from __future__ import annotations

import heapq
import itertools
from typing import Callable

import outcome
import trio

REAP_EARLY_S = 0.002
"""A waiter is sent away this long before its deadline: admitted then, it could not finish in
time anyway, and the waiters whose deadlines fall within this of the earliest one are sent away
in the same wake-up of the reaper (under overload thousands a second)."""


class RequestSlots:
    """At most `capacity` requests routed at once in one trio run; the others wait.

    A freed slot goes to the oldest waiter while it still has half of its wait ahead of it
    (first come, first served); once the oldest has waited longer than that, the queue is not
    draining in time and the slot goes to the newest waiter instead (adaptive LIFO): it has the
    most budget left, where the oldest would mostly be admitted too late to finish.

    A waiter gives up at its deadline, or when its cancel scope is cancelled. Given a nursery
    (`spawn`), one reaper task sends away the waiters whose deadline comes (REAP_EARLY_S ahead),
    many per wake-up — under overload thousands of waiters a second give up, and a cancel scope
    each would cost more CPU than the requests being served.
    """

    def __init__(self, capacity: int, spawn: Callable[..., None] | None = None) -> None:
        if not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"RequestSlots capacity must be an integer >= 1, got {capacity!r}")
        self.capacity = capacity
        self.in_use = 0
        self._spawn = spawn
        # ticket → (task, the time by which it has waited half of its wait); in arrival order
        self._waiters: dict[int, tuple[trio.lowlevel.Task, float]] = {}
        self._tickets = itertools.count()
        self._deadlines: list[tuple[float, int]] = []  # (deadline, ticket), a heap; stale entries skipped
        self._reaper: trio.CancelScope | None = None
        self._reaping = False

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    async def acquire(self, deadline: float) -> bool:
        """Take a slot, waiting until trio time `deadline` at most; False if none came in time."""
        if self.in_use < self.capacity:
            self.in_use += 1
            await trio.lowlevel.checkpoint()  # a slot taken at once is still a scheduling point
            return True
        task = trio.lowlevel.current_task()
        now = trio.current_time()
        ticket = next(self._tickets)
        self._waiters[ticket] = (task, now + (deadline - now) / 2.0)

        def abort(_raise_cancel) -> trio.lowlevel.Abort:
            del self._waiters[ticket]
            return trio.lowlevel.Abort.SUCCEEDED

        if self._spawn is None:
            with trio.move_on_at(deadline):
                return await trio.lowlevel.wait_task_rescheduled(abort)
            return False
        heapq.heappush(self._deadlines, (deadline, ticket))
        self._wake_reaper_by(deadline - REAP_EARLY_S)
        return await trio.lowlevel.wait_task_rescheduled(abort)

    def release(self) -> None:
        """Give the slot back, or straight to a waiter: the oldest, or the newest when the
        oldest has waited more than half of its wait."""
        waiters = self._waiters
        if not waiters:
            self.in_use -= 1
            return
        ticket, (task, halfway) = next(iter(waiters.items()))
        if trio.current_time() <= halfway:
            del waiters[ticket]
        else:
            ticket, (task, _) = waiters.popitem()
        trio.lowlevel.reschedule(task, outcome.Value(True))

    # -- the reaper ---------------------------------------------------------------------------------
    def _wake_reaper_by(self, when: float) -> None:
        if self._reaper is not None:
            if when < self._reaper.deadline:
                self._reaper.deadline = when
        elif not self._reaping:
            self._reaping = True
            self._spawn(self._reap)

    async def _reap(self) -> None:
        """Send away the waiters whose deadline comes; end when none is left to watch."""
        try:
            while self._deadlines:
                with trio.CancelScope(deadline=self._deadlines[0][0] - REAP_EARLY_S) as self._reaper:
                    await trio.sleep_forever()
                self._reaper = None
                horizon = trio.current_time() + REAP_EARLY_S
                while self._deadlines and self._deadlines[0][0] <= horizon:
                    _, ticket = heapq.heappop(self._deadlines)
                    entry = self._waiters.pop(ticket, None)
                    if entry is not None:
                        trio.lowlevel.reschedule(entry[0], outcome.Value(False))
        finally:
            self._reaper = None
            self._reaping = False
            # Waiters left behind (the nursery is closing) fall back on release() or their own scopes.
