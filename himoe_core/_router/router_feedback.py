from __future__ import annotations

from collections.abc import Iterable

import attrs
from himoe_registry import ExpertId


def _rewards(items: Iterable[tuple[ExpertId, float]]) -> tuple[tuple[ExpertId, float], ...]:
    return tuple(items)  # a named converter types the __init__ parameter for mypy's attrs plugin


@attrs.frozen
class RouterFeedback:
    """How good one of a router's decisions turned out: `task_loss`, the final answer's loss
    (lower is better, 1 − reward), and `rewards`, the score of each expert to credit (higher is
    better). What was decided — input features, candidates, propensities, outputs — is in the
    Decision that `Router.learn` receives with it."""

    trace_id: str
    task_loss: float
    rewards: tuple[tuple[ExpertId, float], ...] = attrs.field(default=(), converter=_rewards)
