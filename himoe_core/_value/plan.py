from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from .plan_step import PlanStep


def _steps(value: Iterable[PlanStep]) -> tuple[PlanStep, ...]:
    steps = tuple(value)
    for index, step in enumerate(steps):
        if not isinstance(step, PlanStep):
            raise TypeError(f"Plan.steps[{index}] must be a PlanStep, got {type(step).__name__}")
    return steps


def _unmark(line: str) -> tuple[str, bool]:
    """A line without its list marker ("1.", "-", "*", "•"), and whether it had one."""
    stripped = line.strip()
    text = stripped.lstrip("-*•").strip()
    head, _, rest = text.partition(". ")
    if head.isdigit() and rest.strip():
        text = rest.strip()
    return text, text != stripped


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
        """One step per non-empty line; leading list markers ("1.", "-", "*") are dropped.

        Without a `goal`, an unmarked first line followed by list items (the shape `to_text`
        writes) is the goal, so that ``Plan.from_text(plan.to_text()) == plan``.
        """
        lines = [_unmark(line) for line in text.splitlines() if line.strip()]
        lines = [(description, marked) for description, marked in lines if description]
        if not goal and len(lines) >= 2 and not lines[0][1] and all(marked for _, marked in lines[1:]):
            goal, lines = lines[0][0], lines[1:]
        return cls(goal=goal, steps=[PlanStep(description) for description, _ in lines])

    def to_jsonable(self) -> dict[str, Any]:
        """{"goal", "steps": [{"description", "done"}]}"""
        return {"goal": self.goal, "steps": [{"description": s.description, "done": s.done} for s in self.steps]}

    @classmethod
    def from_jsonable(cls, data: Mapping[str, Any]) -> Plan:
        """The Plan that `to_jsonable` described."""
        return cls(goal=data["goal"], steps=[PlanStep(s["description"], s["done"]) for s in data["steps"]])
