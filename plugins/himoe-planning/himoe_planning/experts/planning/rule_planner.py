from __future__ import annotations

import re

import attrs

from himoe_core import Context, ExpertAux, ExpertOut, InputData, Plan, PlanStep, Value

TASK_PREFIXES = ("plan:", "strategy:", "todo:")
GOAL_HEADERS = ("goal", "objective", "aim")

# A list item: "- x", "* x", "• x", "1. x", "1) x", "a) x", "A) x".
_GOAL_COLON = re.compile(r":(?:\s+|$)")
_LIST_ITEM = re.compile(r"^\s*(?:[-*•]|\d{1,3}[.)]|[a-zA-Z][)])\s+(?P<step>.+?)\s*$")
# Sentence ends: ., !, ? or ; followed by whitespace or the end.
_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+|\n+")
# Sequencing inside a sentence: "then" anywhere (", then", " and then", " then "); the other
# sequencing words only where a clause starts (", next", " and finally", "Finally, …"), so that
# "read the next chapter" or "the team finally ships" stay one step.
_SEQUENCE = re.compile(
    r"\s*(?:[,;]\s*|\band\s+)?\bthen\b,?\s+"
    r"|(?:^|\s*[,;]\s*|\s+and\s+)(?:after that|afterwards|next|finally|lastly)\b,?\s+",
    re.IGNORECASE,
)
_LEAD_WORDS = re.compile(
    r"^(?:first(?:ly)?|second(?:ly)?|third(?:ly)?|then|next|finally|lastly|and)\b[,:]?\s*", re.IGNORECASE
)


def _positive(instance, attribute, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"RulePlanner.max_steps must be a positive integer, got {value!r}")


@attrs.frozen
class RulePlanner:
    """Turns a goal into a Plan of steps by rules: lists, sentences and "then" sequencing."""

    max_steps: int = attrs.field(default=16, validator=_positive)
    name: str = "rule_planner"
    domain: str = "planning"
    example: str = "plan: write the tests, then ship the release"
    cost_units: float = 0.1
    # Its task prefixes; it also takes a text that asks for a strategy anywhere, which no prefix
    # says, so it is asked about every text as well (can_handle decides), never about bytes.
    handles: tuple[str, ...] = TASK_PREFIXES
    input_kinds: tuple[str, ...] = ("text",)

    def can_handle(self, task: str) -> bool:
        task = task.lstrip().lower()
        return task.startswith(TASK_PREFIXES) or "strategy" in task

    async def infer(self, x: InputData, ctx: Context) -> ExpertOut:
        text = x.as_text()
        if text is None:
            return ExpertOut(Value.none(), ExpertAux(cost_units=self.cost_units, confidence=0.0))
        plan, confidence = self.plan_from_prompt(text)
        value = Value.plan(plan) if plan.steps else Value.none()
        return ExpertOut(value, ExpertAux(cost_units=self.cost_units, confidence=confidence))

    def plan_from_prompt(self, prompt: str) -> tuple[Plan, float]:
        """The plan, and a confidence in [0, 1] reflecting how well the prompt parsed."""
        body = _strip_prefix(prompt)
        goal, body = _split_goal(body)
        lines = [line for line in body.splitlines() if line.strip()]
        items = [m.group("step") for m in map(_LIST_ITEM.match, lines) if m]
        if len(items) >= 2:
            steps, confidence = items, 0.9
        else:
            # At most one list item: its marker ("1.", "-") is not a sentence of its own.
            body = "\n".join(m.group("step") if m else line for line, m in zip(lines, map(_LIST_ITEM.match, lines)))
            sentences = [s for s in _SENTENCE_END.split(body) if s.strip()]
            steps = [part for sentence in sentences for part in _SEQUENCE.split(sentence)]
            sequenced = len(steps) > len(sentences)
            confidence = 0.8 if sequenced else 0.7 if len(sentences) > 1 else 0.4
        steps = [_clean(step) for step in steps]
        steps = [step for step in steps if step]
        if not steps:
            return Plan(goal=goal), 0.0
        if len(steps) > self.max_steps:
            steps, confidence = steps[: self.max_steps], confidence * 0.8
        return Plan(goal=goal or steps[0], steps=[PlanStep(step) for step in steps]), confidence


def _strip_prefix(prompt: str) -> str:
    stripped = prompt.strip()
    lowered = stripped.lower()
    for prefix in TASK_PREFIXES:
        if lowered.startswith(prefix):
            return stripped[len(prefix) :].strip()
    return stripped


def _split_goal(body: str) -> tuple[str, str]:
    """An explicit goal on the first line: a ``goal: …`` header, or ``<goal>: steps…``."""
    first, newline, rest = body.partition("\n")
    # Only a colon followed by a space or the line's end separates: never the one in "10:30"
    # or "https://…".
    separator = _GOAL_COLON.search(first)
    head, colon, tail = (first[: separator.start()], ":", first[separator.end() :]) if separator else (first, "", "")
    if colon and head.strip().lower() in GOAL_HEADERS and tail.strip():
        # "goal: bake a cake" then the steps on the next lines; alone, the goal is also the steps.
        goal = tail.strip().rstrip(".!")
        return goal, rest.strip() or tail.strip()
    if colon and head.strip() and len(head) <= 120 and not _LIST_ITEM.match(first):
        return head.strip(), (tail + newline + rest).strip()
    return "", body


def _clean(step: str) -> str:
    step = _LEAD_WORDS.sub("", step.strip()).strip()
    return step.rstrip(".;!").strip()
