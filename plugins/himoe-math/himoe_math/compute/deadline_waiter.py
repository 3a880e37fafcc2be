from __future__ import annotations

import time
from collections.abc import Callable

from himoe_core import CancelToken

POLL_S = 0.01  # how often a waiting thread checks its deadline and cancellation


class DeadlineWaiter:
    """Waits in short slices until something happens, the deadline passes or the request is cancelled.

    `deadline` is a `time.monotonic()` instant. `cancel` is the request's CancelToken;
    `check_cancelled` is called between slices and may raise (``trio.from_thread.check_cancelled``
    raises ``trio.Cancelled`` once the calling trio task is cancelled).
    """

    def __init__(
        self, deadline: float, cancel: CancelToken | None = None, check_cancelled: Callable[[], None] | None = None
    ) -> None:
        self.deadline = deadline
        self.cancel = cancel
        self.check_cancelled = check_cancelled

    def stopped(self) -> bool:
        """True once the deadline passed or the token is cancelled (`check_cancelled` may raise)."""
        if self.check_cancelled is not None:
            self.check_cancelled()
        return (self.cancel is not None and self.cancel.is_cancelled()) or time.monotonic() >= self.deadline

    def wait(self, wait_for: Callable[[float], bool]) -> bool:
        """Call `wait_for(timeout_s)` in slices until it returns True (then True) or we stop (False)."""
        while True:
            remaining = self.deadline - time.monotonic()
            if wait_for(min(max(remaining, 0.0), POLL_S)):
                return True
            if self.stopped():
                return False
