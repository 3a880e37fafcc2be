"""The range of the numbers feedback may carry, checked before anything learns from them."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

from .._errors import InvalidInput

FEEDBACK_BOUND = 1000.0
"""Rewards, task losses and scores are finite numbers in [-FEEDBACK_BOUND, FEEDBACK_BOUND].

Routers square, sum and exponentiate them: a reward of 1e308 made every learning router's state
infinite, for good. Rewards are typically in [0, 1]; the bound leaves room for rewards in other
units (points, negative costs) while keeping every router's arithmetic far from overflow."""


def check_feedback(
    reward: Any = None,
    task_loss: Any = None,
    *,
    scores: Mapping[str, Any] | None = None,
    shadow_scores: Mapping[str, Any] | None = None,
) -> None:
    """Raise InvalidInput unless every value given is a number in the documented range, and
    reward and task_loss are not both given (task_loss is 1 − reward: two would disagree)."""
    if reward is not None and task_loss is not None:
        raise InvalidInput(
            f"give reward or task_loss, not both (task_loss is 1 - reward), got reward {reward!r} "
            f"and task_loss {task_loss!r}"
        )
    _check_value("reward", reward)
    _check_value("task_loss", task_loss)
    if scores is None and shadow_scores is None:
        return
    for param, names, table in (("scores", "expert", scores), ("shadow_scores", "shadow router", shadow_scores)):
        if table is None:
            continue
        if not isinstance(table, Mapping):
            raise InvalidInput(f"{param} must map {names} names to numbers, got {type(table).__name__} {table!r}")
        for name, value in table.items():
            if not isinstance(name, str):
                raise InvalidInput(f"{param} must map {names} names to numbers, got the key {name!r}")
            _check_value(f"{'score' if param == 'scores' else 'shadow score'} for {name!r}", value)


def _check_value(what: str, value: Any) -> None:
    if value is None:
        return
    # a float first: the numbers.Real check (an ABC's) costs more than the rest of this
    if type(value) is not float and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
        raise InvalidInput(f"{what} must be a finite number, got {value!r}")
    if not math.isfinite(value):
        raise InvalidInput(f"{what} must be a finite number, got {value!r}")
    if not -FEEDBACK_BOUND <= float(value) <= FEEDBACK_BOUND:  # finite: float() is exact enough here
        raise InvalidInput(
            f"{what} must be in [{-FEEDBACK_BOUND:g}, {FEEDBACK_BOUND:g}], got {value!r}; "
            "rewards are typically in [0, 1]"
        )
