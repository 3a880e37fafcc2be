from __future__ import annotations

import threading
from typing import Any

import attrs

from .._context import Context
from .._experts.expert_aux import ExpertAux
from .._experts.expert_out import ExpertOut
from .._input import InputData
from .._value import Value, to_value


@attrs.define
class LearningExpert:
    """An expert that learns from feedback, the way a trainable classifier would: it answers
    `value` at once, and records every ``learn(x, value, reward, expected=…)`` call that
    ``HiMoE.feedback`` makes on it in `learned` as ``(x, value, reward, expected)``.

    Its state (`learned_count`, `reward_sum`) goes through ``state_dict`` / ``load_state_dict``,
    so tests can check that expert state is saved and restored with the state file.
    """

    name: str
    value: Value = attrs.field(default=Value.text("ok"), converter=to_value)
    prefix: str = ""
    confidence: float = 1.0
    cost_units: float = 0.0
    domain: str = "testing"
    calls: int = attrs.field(default=0, init=False)
    learned: list[tuple[InputData, Value, float, Value | None]] = attrs.field(factory=list, init=False)
    learned_count: int = attrs.field(default=0, init=False)
    reward_sum: float = attrs.field(default=0.0, init=False)
    _lock: threading.Lock = attrs.field(factory=threading.Lock, init=False, repr=False)

    def can_handle(self, task: str) -> bool:
        return task.startswith(self.prefix)

    async def infer(self, x: InputData, ctx: Context) -> ExpertOut:
        self.calls += 1
        return ExpertOut(self.value, ExpertAux(cost_units=self.cost_units, confidence=self.confidence))

    def learn(self, x: InputData, value: Value, reward: float, *, expected: Value | None = None) -> None:
        with self._lock:
            self.learned.append((x, value, reward, expected))
            self.learned_count += 1
            self.reward_sum += reward

    def state_dict(self) -> dict[str, Any]:
        with self._lock:
            return {"learned_count": self.learned_count, "reward_sum": self.reward_sum}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        with self._lock:
            self.learned_count = int(state["learned_count"])
            self.reward_sum = float(state["reward_sum"])
