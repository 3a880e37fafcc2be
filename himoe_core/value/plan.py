from __future__ import annotations

import attrs

from .plan_step import PlanStep


def _steps(value) -> tuple[PlanStep, ...]:
    steps = tuple(value)
    for index, step in enumerate(steps):
        if not isinstance(step, PlanStep):
            raise TypeError(f"Plan.steps[{index}] must be a PlanStep, got {type(step).__name__}")
    return steps


@attrs.frozen
class Plan:
    """A structured symbolic plan: a goal and ordered steps."""

    goal: str = attrs.field(validator=attrs.validators.instance_of(str))
    steps: tuple[PlanStep, ...] = attrs.field(factory=tuple, converter=_steps)

    def to_text(self) -> str:
        """Numbered lines, the inverse of `Plan.from_text`."""
        lines = [f"{index}. {step.description}" for index, step in enumerate(self.steps, 1)]
        return "\n".join([self.goal, *lines]) if self.goal else "\n".join(lines)

    @classmethod
    def from_text(cls, text: str, goal: str = "") -> Plan:
        """One step per non-empty line; leading list markers ("1.", "-", "*") are dropped."""
        steps = []
        for line in text.splitlines():
            line = line.strip().lstrip("-*•").strip()
            head, _, rest = line.partition(". ")
            if head.isdigit() and rest:
                line = rest.strip()
            if line:
                steps.append(PlanStep(line))
        return cls(goal=goal, steps=steps)

    def to_jsonable(self) -> dict:
        return {"goal": self.goal, "steps": [{"description": s.description, "done": s.done} for s in self.steps]}
