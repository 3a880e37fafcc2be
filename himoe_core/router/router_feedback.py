from __future__ import annotations

import attrs
from himoe_registry import ExpertId

from ..input import InputData


@attrs.frozen
class RouterFeedback:
    """Learning signal for a router, from the orchestrator's view of the final quality.

    `task_loss` is the final loss (lower is better); `rewards` scores individual experts'
    outputs (higher is better); the regularisation signals come from the trace. `input` is the
    request as routed (deterministic encoders re-encode it) and `propensities` the gate
    probability each pick had when it was chosen.
    """

    trace_id: str
    task_loss: float
    load_balance_grad: float = 0.0
    entropy_grad: float = 0.0
    util_by_expert: tuple[tuple[ExpertId, float], ...] = attrs.field(default=(), converter=tuple)
    rewards: tuple[tuple[ExpertId, float], ...] = attrs.field(default=(), converter=tuple)
    input: InputData | None = None
    propensities: tuple[tuple[ExpertId, float], ...] = attrs.field(default=(), converter=tuple)
