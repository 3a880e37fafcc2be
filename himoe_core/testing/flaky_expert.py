from __future__ import annotations

import random
import threading

import attrs
import trio

from .._context import Context
from .._experts.expert_aux import ExpertAux
from .._experts.expert_out import ExpertOut
from .._input import InputData
from .._value import Value, to_value


@attrs.define
class FlakyExpert:
    """Fails intermittently: each call raises `error_type(message)` with probability
    `failure_rate`, else answers `value` (after `delay_s` on the trio clock).

    The draws come from ``random.Random(seed)`` in call order, so a run is reproducible:
    `outcomes` records each call's fate (True = answered), `failures` counts the raises.
    """

    name: str
    failure_rate: float = 0.5
    seed: int = 0
    value: Value = attrs.field(default=Value.text("ok"), converter=to_value)
    message: str = "intermittent failure"
    error_type: type[Exception] = RuntimeError
    delay_s: float = 0.0
    prefix: str = ""
    confidence: float = 1.0
    cost_units: float = 0.0
    domain: str = "testing"
    calls: int = attrs.field(default=0, init=False)
    failures: int = attrs.field(default=0, init=False)
    outcomes: list[bool] = attrs.field(factory=list, init=False)
    _rng: random.Random = attrs.field(init=False, repr=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if not 0.0 <= self.failure_rate <= 1.0:
            raise ValueError(f"FlakyExpert failure_rate must be in [0, 1], got {self.failure_rate!r}")
        self._rng = random.Random(self.seed)

    def can_handle(self, task: str) -> bool:
        return task.startswith(self.prefix)

    async def infer(self, x: InputData, ctx: Context) -> ExpertOut:
        with self._lock:
            self.calls += 1
            fails = self._rng.random() < self.failure_rate
            self.outcomes.append(not fails)
            self.failures += fails
        if self.delay_s > 0:
            await trio.sleep(self.delay_s)
        if fails:
            raise self.error_type(self.message)
        return ExpertOut(self.value, ExpertAux(cost_units=self.cost_units, confidence=self.confidence))
