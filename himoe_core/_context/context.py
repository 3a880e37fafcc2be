from __future__ import annotations

import math
import numbers
import os
import secrets
import sys
import time
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any

import attrs

from .._errors import InvalidInput
from .._input.input_data import check_unicode
from .cancel_token import CancelToken
from .memory import Memory


def _budget(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if type(value) is float and value >= 0.0:  # the common case, checked cheaply (NaN fails it)
        return
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value) or value < 0:
        raise InvalidInput(f"Context.{attribute.name} must be a number >= 0, got {value!r}")


def _text(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if type(value) is not str and not isinstance(value, str):
        raise InvalidInput(f"Context.{attribute.name} must be a str, got {type(value).__name__}")
    check_unicode(value, f"Context.{attribute.name}")  # it is written to the state file and printed


# Milliseconds are reported to the nanosecond: finer figures are float noise.


def _ms(seconds: float) -> float:
    return _nanos(seconds * 1000.0)


def _nanos(ms: float) -> float:
    """`round(ms, 6)`; a few times cheaper below 10⁹ ms, where ms·10⁶ is an exact integer."""
    return round(ms * 1e6) / 1e6 if -1e9 < ms < 1e9 else round(ms, 6)


def current_clock() -> Callable[[], float]:
    """trio's clock inside a trio run (so MockClock applies), the monotonic clock outside.

    The trio clock can only be read on the run's own thread, yet sync experts poll their
    context from worker threads; there it falls back to the monotonic clock shifted to trio's
    time as measured when the clock was made.
    """
    trio = sys.modules.get("trio")  # not imported yet means no trio run can be active
    if trio is None:
        return time.monotonic
    try:
        trio.lowlevel.current_trio_token()
    except RuntimeError:
        return time.monotonic
    # `trio` came from sys.modules, untyped: the two names are typed here
    current_time: Callable[[], float] = trio.current_time
    offset: float = current_time() - time.monotonic()

    def clock() -> float:
        try:
            return current_time()
        except RuntimeError:  # a worker thread: no trio context here
            return time.monotonic() + offset

    return clock


_trace_ids: list[str] = []
"""Trace ids drawn ahead, 256 per system call: one call per request cost more than the rest of
making its context."""
os.register_at_fork(after_in_child=_trace_ids.clear)  # a child must never repeat its parent's ids


def new_trace_id() -> str:
    """16 hex digits from the OS's CSPRNG: unique across processes sharing a state file, and
    unguessable, since a trace id is what feedback is given for."""
    while True:
        try:
            return _trace_ids.pop()  # atomic: threads never get the same id
        except IndexError:
            block = secrets.token_hex(8 * 256)
            _trace_ids.extend(block[i : i + 16] for i in range(0, len(block), 16))


_NO_OPTIONS: Mapping[str, Any] = MappingProxyType({})


def _read_only(options: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if not options:
        return _NO_OPTIONS
    if not isinstance(options, Mapping):
        raise InvalidInput(f"Context.options must be a mapping of option names to values, got {type(options).__name__}")
    return options if isinstance(options, MappingProxyType) else MappingProxyType(dict(options))


@attrs.frozen
class Context:
    """What travels with a request: its budget and deadline, trace id, cancel token and memory.

    Immutable: `derive(...)` returns a changed copy. The deadline is absolute on `clock`, fixed
    when the request starts, so everything derived from a context shares one deadline.

    `options` (read-only, empty by default) carries what the caller asked of the experts beyond
    the input, for the experts that understand it; the others ignore it. `himoe serve` fills it
    from an OpenAI chat request:

    - `"max_tokens"`, `"temperature"`, `"top_p"`, `"stop"`, `"seed"`, `"presence_penalty"`,
      `"frequency_penalty"`: generation settings, as the request gave them;
    - `"messages"`: the conversation before the request text (system messages and earlier
      turns), a tuple of `{"role": ..., "content": ...}` dicts, oldest first;
    - `"stream"`: a callable `stream(expert_name, text)` that an expert able to stream calls
      with each piece of its answer as it arrives (its returned `ExpertOut` must still carry the
      whole answer).
    """

    budget_ms: float = attrs.field(validator=_budget)
    deadline: float
    trace_id: str = attrs.field(validator=_text)
    cancel: CancelToken = attrs.field(factory=CancelToken, repr=False)
    memory: Memory = attrs.field(factory=Memory, repr=False)
    cost_budget: float = attrs.field(default=math.inf, validator=_budget)
    depth: int = 0
    clock: Callable[[], float] = attrs.field(default=time.monotonic, repr=False, eq=False)
    options: Mapping[str, Any] = attrs.field(default=_NO_OPTIONS, converter=_read_only, repr=False, eq=False)

    @classmethod
    def start(
        cls,
        budget_ms: float,
        *,
        trace_id: str | None = None,
        cancel: CancelToken | None = None,
        memory: Memory | None = None,
        cost_budget: float = math.inf,
        clock: Callable[[], float] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> Context:
        """A context whose deadline is `budget_ms` from now."""
        if not (
            type(budget_ms) is float
            and type(cost_budget) is float
            and 0.0 <= budget_ms < math.inf
            and cost_budget >= 0.0
        ):  # else say what is wrong
            _budget(None, attrs.fields(cls).budget_ms, budget_ms)
            _budget(None, attrs.fields(cls).cost_budget, cost_budget)  # before float() turns "5" into 5.0
            if not math.isfinite(budget_ms):
                raise InvalidInput(f"Context.budget_ms must be a finite number of milliseconds, got {budget_ms!r}")
        clock = clock or current_clock()
        # Not `trace_id or new_trace_id()`: an array has no truth value; the validator names a bad type.
        if trace_id is None or (isinstance(trace_id, str) and not trace_id):
            trace_id = new_trace_id()
        return cls(
            budget_ms=float(budget_ms),
            deadline=clock() + float(budget_ms) / 1000.0,  # float(): a numpy float32 budget would round the deadline
            trace_id=trace_id,
            # `is None`, not `or`: an empty Memory is falsy, and a shared one must be kept.
            cancel=cancel if cancel is not None else CancelToken(),
            memory=memory if memory is not None else Memory(),
            cost_budget=float(cost_budget),
            clock=clock,
            options=options,
        )

    def remaining_ms(self) -> float:
        """Milliseconds left before the deadline; 0.0 once it has passed.

        Rounded to the nanosecond, so that float noise in seconds (0.1 - 0.04 s) does not show
        as 60.00000000000001 ms: on trio's MockClock the figures are exact. Never more than the
        budget: with a huge budget (1e16 ms) the deadline in seconds loses the last digits.
        """
        return max(0.0, min(self.budget_ms, _ms(self.deadline - self.clock())))

    def elapsed_ms(self) -> float:
        """Milliseconds since the start, by the original budget (a narrowed deadline aside)."""
        return _nanos(self.budget_ms - _ms(self.deadline - self.clock()))

    def expired(self) -> bool:
        """Whether the deadline has passed."""
        return self.clock() >= self.deadline

    def derive(self, **changes: Any) -> Context:
        """A copy with some fields changed (e.g. `trace_id`, `cost_budget`, `depth`).

        A derived context never outlives this one: a later `deadline` is clamped to this one's.
        """
        if "deadline" in changes:
            changes["deadline"] = min(self.deadline, changes["deadline"])
        return attrs.evolve(self, **changes)

    def narrowed(self, budget_ms: float) -> Context:
        """A copy whose deadline is at most `budget_ms` from now (never later than this one's)."""
        _budget(None, attrs.fields(Context).budget_ms, budget_ms)
        return attrs.evolve(self, deadline=min(self.deadline, self.clock() + float(budget_ms) / 1000.0))
