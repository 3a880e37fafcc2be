from __future__ import annotations

import attrs

from ..experts.expert_out import ExpertOut
from ..experts.expert_ref import ExpertRef
from .call_status import CallStatus


@attrs.frozen
class CallOutcome:
    """One picked expert's fate in a fan-out: its output, or why there is none."""

    expert: ExpertRef
    status: CallStatus
    out: ExpertOut | None = None
    latency_ms: float = 0.0
    cause: str = ""
    error: BaseException | None = attrs.field(default=None, eq=False, repr=False)
    """The exception a failed call raised, for callers that act on its type."""

    @property
    def ok(self) -> bool:
        return self.status is CallStatus.OK
