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

    @property
    def ok(self) -> bool:
        return self.status is CallStatus.OK
