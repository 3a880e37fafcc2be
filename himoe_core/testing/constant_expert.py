from __future__ import annotations

import attrs

from .._context import Context
from .._experts.expert_aux import ExpertAux
from .._experts.expert_out import ExpertOut
from .._input import InputData
from .._value import Value, to_value


@attrs.define
class ConstantExpert:
    """Answers every task starting with `prefix` with the same `value`, at once.

    `value` is anything `to_value` accepts (str, Plan, dict, numpy array, bytes, None, Value);
    the answer reports `confidence` and `cost_units`. `calls` counts the calls received.
    """

    name: str
    value: Value = attrs.field(default=Value.text("ok"), converter=to_value)
    prefix: str = ""
    confidence: float = 1.0
    cost_units: float = 0.0
    domain: str = "testing"
    calls: int = attrs.field(default=0, init=False)

    def can_handle(self, task: str) -> bool:
        return task.startswith(self.prefix)

    async def infer(self, x: InputData, ctx: Context) -> ExpertOut:
        self.calls += 1
        return ExpertOut(self.value, ExpertAux(cost_units=self.cost_units, confidence=self.confidence))
