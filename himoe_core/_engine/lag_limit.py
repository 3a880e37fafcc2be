from __future__ import annotations

import math

LATE_S = 0.003
"""A request that ends this long after its deadline, or a timer this late, means the loop is
not keeping up: admit fewer requests."""

ON_TIME_S = 0.0015
"""A timer at most this late, with requests waiting for a slot, means room for more."""

INITIAL = 64
"""Where the limit starts; also the fixed limit of "auto" where it cannot adapt (no nursery)."""

DECREASE = 0.8
GROW_EVERY_S = 0.02
"""At most one growth step per this much time: a step's effect shows only as requests end."""
SLOW_START = 1.25
"""Growth factor per step until the first cut; +1 per step after it."""
SETTLE_S = 0.1
"""After a cut, time for the requests admitted before it to finish: no second cut, no growth."""


class LagLimit:
    """How many requests may run at once, adapted to how late the event loop runs.

    Two signals, both in trio time: how long after its deadline a request admitted through a
    slot ends (requests cut at their deadline end a little after it; many at once queue up their
    final work behind each other), and how late the slots' reaper wakes up (everything that held
    the loop: requests, garbage collections, threads holding the GIL) — it wakes only while
    requests wait for a slot, the only time the limit matters. Either one late by more than
    LATE_S cuts the limit by DECREASE, then leaves it alone for SETTLE_S; a wake-up within
    ON_TIME_S grows it. The limit settles just below where requests start to end late.

    Growth is multiplicative (SLOW_START per step, one step per GROW_EVERY_S at most) until the
    first cut, then one more request per step, as TCP's congestion window grows: an app whose
    experts mostly wait (remote models) reaches hundreds of requests in flight within a second,
    and a loaded one does not overshoot its knee again after finding it.
    """

    def __init__(self, initial: int = INITIAL, minimum: int = 4, maximum: int = 100_000) -> None:
        if not (
            isinstance(minimum, int)
            and isinstance(initial, int)
            and isinstance(maximum, int)
            and 1 <= minimum <= initial <= maximum
        ):
            raise ValueError(
                f"LagLimit needs integers 1 <= minimum <= initial <= maximum, got {minimum!r}, {initial!r}, {maximum!r}"
            )
        self.value = initial
        self.minimum = minimum
        self.maximum = maximum
        self._next_cut = -math.inf
        self._next_growth = -math.inf
        self._cut_once = False

    def finished(self, lateness_s: float, now: float) -> int:
        """The limit after a request ended `lateness_s` after its deadline (negative: before)."""
        if lateness_s > LATE_S:
            self._cut(now)
        return self.value

    def woke(self, lag_s: float, now: float) -> int:
        """The limit after the reaper woke up `lag_s` late, with requests waiting."""
        if lag_s > LATE_S:
            self._cut(now)
        elif lag_s <= ON_TIME_S and now >= self._next_growth:
            grown = self.value + 1 if self._cut_once else max(self.value + 1, int(self.value * SLOW_START))
            self.value = min(self.maximum, grown)
            self._next_growth = now + GROW_EVERY_S
        return self.value

    def _cut(self, now: float) -> None:
        if now >= self._next_cut:
            self.value = max(self.minimum, int(self.value * DECREASE))
            self._next_cut = self._next_growth = now + SETTLE_S
            self._cut_once = True
