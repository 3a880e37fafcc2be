from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np

from .._context import Context
from .._experts.expert_aux import ExpertAux
from .._experts.expert_out import ExpertOut
from .._input import InputData
from .._value import Value

FAULTS = (
    "wrong_type",
    "nan_json",
    "nan_embedding",
    "nan_confidence",
    "negative_cost",
    "huge_text",
    "huge_list",
    "huge_bytes",
)


def _fault(instance: Any, attribute: Any, value: str) -> None:
    if value not in FAULTS:
        raise ValueError(f"MalformedExpert fault must be one of {', '.join(FAULTS)}, got {value!r}")


@attrs.define
class MalformedExpert:
    """Answers at once, but with something the router must refuse — the call then fails with a
    one-line cause, and the request goes on with the other experts:

    - ``"wrong_type"``: an object no adapter turns into a Value;
    - ``"nan_json"``: ``{"confidence": nan}``, a dict JSON cannot carry;
    - ``"nan_embedding"``: a numpy vector holding NaN;
    - ``"nan_confidence"`` / ``"negative_cost"``: builds ``ExpertAux(confidence=nan)`` /
      ``ExpertAux(cost_units=-1)``, which raises inside the expert;
    - ``"huge_text"`` / ``"huge_bytes"`` / ``"huge_list"``: `size` characters, bytes or list
      items — refused by ``[limits] max_output_bytes`` when larger than it.
    """

    name: str
    fault: str = attrs.field(default="wrong_type", validator=_fault)
    size: int = 50 * 1024 * 1024
    prefix: str = ""
    cost_units: float = 0.0
    domain: str = "testing"
    calls: int = attrs.field(default=0, init=False)

    def can_handle(self, task: str) -> bool:
        return task.startswith(self.prefix)

    async def infer(self, x: InputData, ctx: Context) -> Any:
        self.calls += 1
        fault = self.fault
        if fault == "wrong_type":
            return object()
        if fault == "nan_json":
            return {"confidence": math.nan}
        if fault == "nan_embedding":
            return np.array([0.5, math.nan], dtype=np.float32)
        if fault == "nan_confidence":
            return ExpertOut(Value.text("unreachable"), ExpertAux(confidence=math.nan))
        if fault == "negative_cost":
            return ExpertOut(Value.text("unreachable"), ExpertAux(cost_units=-1.0))
        if fault == "huge_text":
            return "x" * self.size
        if fault == "huge_bytes":
            return bytes(self.size)
        return list(range(self.size))
