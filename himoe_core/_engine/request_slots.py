from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable

import outcome
import trio

from .lag_limit import LagLimit

REAP_EARLY_S = 0.002
"""A waiter is sent away at least this long before its deadline: admitted then, it could not
finish in time anyway."""

SEND_AWAY_COST_S = 30e-6
"""What one waiter sent away costs the loop (raising its error, its caller's next step; ~10–20
µs measured), with a margin: waiters whose deadlines coincide — a burst that arrived together —
are sent away early enough that the last of them is still back before its deadline, a
millisecond's worth at a time so that they do not come back together."""

_BUCKET_S = 0.001  # deadlines are counted per millisecond
_LOOKAHEAD_BUCKETS = 200
_REPLAN_S = 0.005  # while waiters wait, the reaper looks at the queue at least this often


class RequestSlots:
    """At most `capacity` requests routed at once in one trio run; the others wait.

    A freed slot goes to the oldest waiter while it still has half of its wait ahead of it
    (first come, first served); once the oldest has waited longer than that, the queue is not
    draining in time and the slot goes to the newest waiter instead (adaptive LIFO): it has the
    most budget left, where the oldest would mostly be admitted too late to finish.

    A waiter gives up before its deadline, or when its cancel scope is cancelled. Given a
    nursery (`spawn`), one reaper task sends away the waiters whose deadline comes, many per
    wake-up, early enough for a whole burst (see SEND_AWAY_COST_S) — under overload thousands of
    waiters a second give up, and a cancel scope each would cost more CPU than the requests
    being served. Without one, each waiter waits under its own deadline.

    Given a LagLimit, the capacity follows it: each admitted request reports how long after its
    deadline it ended, the reaper how late it woke up; a larger capacity admits waiters at once,
    a smaller one is reached as requests finish. Growth needs the reaper, hence a nursery.
    """

    def __init__(self, capacity: int, spawn: Callable[..., None] | None = None, limit: LagLimit | None = None) -> None:
        if not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"RequestSlots capacity must be an integer >= 1, got {capacity!r}")
        self.capacity = capacity
        self.limit = limit
        self.in_use = 0
        self._spawn = spawn
        # ticket → (task, the time by which it has waited half of its wait, its deadline's bucket);
        # in arrival order
        self._waiters: dict[int, tuple[trio.lowlevel.Task, float, int]] = {}
        self._tickets = itertools.count()
        self._deadlines: list[tuple[float, int]] = []  # (deadline, ticket): a heap, stale entries skipped
        self._due: dict[int, int] = {}  # deadline bucket → waiters due in it
        self._reaper: trio.CancelScope | None = None
        self._reaper_set = 0.0  # when the reaper's deadline was last set
        self._reaping = False

    async def acquire(self, deadline: float) -> bool:
        """Take a slot, waiting until trio time `deadline` at most; False if none came in time."""
        if self.in_use < self.capacity:
            # A slot taken at once is still a scheduling point; a cancelled caller must not
            # take one it would never give back.
            await trio.lowlevel.checkpoint_if_cancelled()
            self.in_use += 1
            await trio.lowlevel.cancel_shielded_checkpoint()
            return True
        now = trio.current_time()
        ticket = next(self._tickets)
        bucket = math.floor(deadline / _BUCKET_S)
        self._waiters[ticket] = (trio.lowlevel.current_task(), now + (deadline - now) / 2.0, bucket)
        self._due[bucket] = self._due.get(bucket, 0) + 1

        def abort(_raise_cancel: Callable[[], object]) -> trio.lowlevel.Abort:
            self._remove(ticket)
            return trio.lowlevel.Abort.SUCCEEDED

        if self._spawn is None:
            with trio.move_on_at(deadline):
                admitted: bool = await trio.lowlevel.wait_task_rescheduled(abort)  # _admit_next's Value(True)
                return admitted
            return False
        heapq.heappush(self._deadlines, (deadline, ticket))
        self._wake_reaper_by(deadline - REAP_EARLY_S - SEND_AWAY_COST_S)
        admitted = await trio.lowlevel.wait_task_rescheduled(abort)  # True, or False from the reaper
        return admitted

    def release(self, deadline: float | None = None) -> None:
        """Give the slot back, or straight to a waiter (see _admit_next) unless the capacity
        shrank below the slots in use. `deadline`: the request's, which the LagLimit compares
        with the time it ended."""
        if self.limit is not None and deadline is not None:
            now = trio.current_time()
            self.capacity = self.limit.finished(now - deadline, now)
        if not self._waiters or self.in_use > self.capacity:
            self.in_use -= 1
            return
        self._admit_next()

    def resize(self, capacity: int) -> None:
        """Change the capacity; waiters take the new slots at once."""
        self.capacity = capacity
        while self.in_use < capacity and self._waiters:
            self.in_use += 1
            self._admit_next()

    def _admit_next(self) -> None:
        """Hand a slot to the oldest waiter, or to the newest when the oldest has waited more
        than half of its wait."""
        waiters = self._waiters
        ticket, (_, halfway, _) = next(iter(waiters.items()))
        if trio.current_time() > halfway:
            ticket = next(reversed(waiters))
        trio.lowlevel.reschedule(self._remove(ticket), outcome.Value(True))

    def _remove(self, ticket: int) -> trio.lowlevel.Task:
        task, _, bucket = self._waiters.pop(ticket)
        left = self._due[bucket] - 1
        if left:
            self._due[bucket] = left
        else:
            del self._due[bucket]
        return task

    # -- the reaper ---------------------------------------------------------------------------------
    def _wake_reaper_by(self, when: float) -> None:
        if self._reaper is not None:
            if when < self._reaper.deadline:
                self._reaper.deadline = when
                self._reaper_set = trio.current_time()
        elif not self._reaping:
            assert self._spawn is not None, "acquire waits by itself when there is no nursery to reap in"
            self._reaping = True
            self._spawn(self._reap)

    def _plan(self) -> tuple[float, float] | None:
        """When the reaper must next send waiters away, and up to which deadline, so that each
        is back REAP_EARLY_S before its deadline even behind the others due around it."""
        heap = self._deadlines
        while heap and heap[0][1] not in self._waiters:
            heapq.heappop(heap)
        if not heap:
            return None
        first = math.floor(heap[0][0] / _BUCKET_S)
        waiting, wake, upto = 0, math.inf, first
        for bucket in range(first, first + _LOOKAHEAD_BUCKETS):
            due = self._due.get(bucket)
            if due:
                waiting += due
                start = bucket * _BUCKET_S - REAP_EARLY_S - waiting * SEND_AWAY_COST_S
                if start < wake:
                    wake, upto = start, bucket
        return wake, (upto + 1) * _BUCKET_S

    async def _reap(self) -> None:
        """Send waiters away as planned; end when none is left waiting."""
        try:
            while True:
                plan = self._plan()
                if plan is None:
                    return
                wake, upto = plan
                now = trio.current_time()
                if wake <= now:  # the earliest millisecond's waiters now, the next ones after them
                    heap = self._deadlines
                    upto = min(upto, (math.floor(heap[0][0] / _BUCKET_S) + 1) * _BUCKET_S)
                    while heap and heap[0][0] < upto:
                        _, ticket = heapq.heappop(heap)
                        if ticket in self._waiters:
                            trio.lowlevel.reschedule(self._remove(ticket), outcome.Value(False))
                    await trio.lowlevel.checkpoint()  # they go first; then plan again
                    continue
                self._reaper_set = now
                with trio.CancelScope(deadline=min(wake, now + _REPLAN_S)) as self._reaper:
                    await trio.sleep_forever()
                due, self._reaper = self._reaper.deadline, None
                if self.limit is not None and self._waiters:
                    now = trio.current_time()
                    # Late by how much after it was due — or after it was set, if set in the past.
                    self.resize(self.limit.woke(now - max(due, self._reaper_set), now))
        finally:
            self._reaper = None
            self._reaping = False
            # Waiters left behind (the nursery is closing) get a slot from release(), or their
            # callers' own cancellation.
