from __future__ import annotations

import attrs
import trio

from .._context import Context
from .._experts.expert_aux import ExpertAux
from .._experts.expert_out import ExpertOut
from .._input import InputData
from .._value import Value, to_value


@attrs.define
class SleepyExpert:
    """Sleeps `delay_s` seconds on the trio clock, then answers `value`.

    Under ``trio.testing.MockClock`` the delay is exact and costs no real time, which makes
    deadline tests deterministic. `calls` counts the calls started, `finished` those that
    answered (a call cut at the deadline is started but not finished).
    """

    name: str
    delay_s: float = 0.0
    value: Value = attrs.field(default=Value.text("ok"), converter=to_value)
    prefix: str = ""
    confidence: float = 1.0
    cost_units: float = 0.0
    domain: str = "testing"
    calls: int = attrs.field(default=0, init=False)
    finished: int = attrs.field(default=0, init=False)

    def can_handle(self, task: str) -> bool:
        return task.startswith(self.prefix)

    async def infer(self, x: InputData, ctx: Context) -> ExpertOut:
        self.calls += 1
        await trio.sleep(self.delay_s)
        self.finished += 1
        return ExpertOut(self.value, ExpertAux(cost_units=self.cost_units, confidence=self.confidence))
