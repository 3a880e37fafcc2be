from __future__ import annotations

import attrs
from himoe_registry import ExpertId

from .._experts.expert_out import ExpertOut
from .call_status import CallStatus


@attrs.frozen
class CallOutcome:
    """One picked expert's fate in a fan-out: its output, or why there is none.

    Plain data (the expert is named by id and name, not held), so a decision that holds its
    outcomes can be stored and shipped to another process.
    """

    expert_id: ExpertId
    name: str
    status: CallStatus
    out: ExpertOut | None = None
    latency_ms: float = 0.0
    cause: str = ""
    error: BaseException | None = attrs.field(default=None, eq=False, repr=False)
    """The exception a failed call raised, for callers that act on its type (never stored)."""

    @property
    def ok(self) -> bool:
        return self.status is CallStatus.OK
