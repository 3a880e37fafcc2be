from __future__ import annotations

import math
import secrets
import sys
import time
from typing import Any, Callable

import attrs

from ..errors import InvalidInput
from .cancel_token import CancelToken
from .memory import Memory


def _budget(instance, attribute, value) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or value < 0:
        raise InvalidInput(f"Context.{attribute.name} must be a number >= 0, got {value!r}")


def current_clock() -> Callable[[], float]:
    """trio's clock inside a trio run (so MockClock applies), the monotonic clock outside."""
    trio = sys.modules.get("trio")  # not imported yet means no trio run can be active
    if trio is None:
        return time.monotonic
    try:
        trio.lowlevel.current_trio_token()
    except RuntimeError:
        return time.monotonic
    return trio.current_time


def new_trace_id() -> str:
    return secrets.token_hex(8)


@attrs.frozen
class Context:
    """What travels with a request: its budget and deadline, trace id, cancel token and memory.

    Immutable: `derive(...)` returns a changed copy. The deadline is absolute on `clock`, fixed
    when the request starts, so everything derived from a context shares one deadline.
    """

    budget_ms: float = attrs.field(validator=_budget)
    deadline: float
    trace_id: str = attrs.field(validator=attrs.validators.instance_of(str))
    cancel: CancelToken = attrs.field(factory=CancelToken, repr=False)
    memory: Memory = attrs.field(factory=Memory, repr=False)
    cost_budget: float = attrs.field(default=math.inf, validator=_budget)
    depth: int = 0
    clock: Callable[[], float] = attrs.field(default=time.monotonic, repr=False, eq=False)

    @classmethod
    def start(cls, budget_ms: float, *, trace_id: str | None = None, cancel: CancelToken | None = None,
              memory: Memory | None = None, cost_budget: float = math.inf,
              clock: Callable[[], float] | None = None) -> Context:
        """A context whose deadline is `budget_ms` from now."""
        _budget(None, attrs.fields(cls).budget_ms, budget_ms)
        clock = clock or current_clock()
        return cls(
            budget_ms=float(budget_ms),
            deadline=clock() + budget_ms / 1000.0,
            trace_id=trace_id or new_trace_id(),
            cancel=cancel or CancelToken(),
            memory=memory or Memory(),
            cost_budget=float(cost_budget),
            clock=clock,
        )

    def remaining_ms(self) -> float:
        """Milliseconds left before the deadline; 0.0 once it has passed."""
        return max(0.0, (self.deadline - self.clock()) * 1000.0)

    def elapsed_ms(self) -> float:
        return self.budget_ms - (self.deadline - self.clock()) * 1000.0

    def expired(self) -> bool:
        return self.clock() >= self.deadline

    def derive(self, **changes: Any) -> Context:
        """A copy with some fields changed (e.g. `trace_id`, `cost_budget`, `depth`)."""
        return attrs.evolve(self, **changes)

    def narrowed(self, budget_ms: float) -> Context:
        """A copy whose deadline is at most `budget_ms` from now (never later than this one's)."""
        _budget(None, attrs.fields(Context).budget_ms, budget_ms)
        return attrs.evolve(self, deadline=min(self.deadline, self.clock() + budget_ms / 1000.0))
