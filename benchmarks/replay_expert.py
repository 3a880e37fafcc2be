"""A benchmark expert that replays recorded outcomes instead of calling a model."""

from __future__ import annotations

from collections.abc import Mapping

from himoe_core import ExpertAux, ExpertOut, Value


class ReplayExpert:
    """Answers a prompt with the outcome recorded for it (e.g. whether an LLM got a GSM8K problem
    right), as ``Value.json({"correct": 0 | 1})``: routing decisions go through himoe for real,
    without calling any model. A prompt with no record is an error, not a silent default."""

    domain = "benchmark"

    def __init__(self, name: str, outcomes: Mapping[str, int], cost_units: float) -> None:
        self.name = name
        self.description = f"replays recorded outcomes of {name} ({len(outcomes)} prompts)"
        self.cost_units = float(cost_units)
        self._answers = {
            prompt: ExpertOut(Value.json({"correct": int(correct)}), ExpertAux(cost_units=self.cost_units))
            for prompt, correct in outcomes.items()
        }
        self.calls = 0

    def can_handle(self, task: str) -> bool:
        return True

    async def infer(self, x, ctx) -> ExpertOut:
        self.calls += 1
        try:
            return self._answers[x.as_text()]
        except KeyError:
            raise LookupError(f"{self.name}: no recorded outcome for this prompt") from None
