from __future__ import annotations

import attrs

from ..experts.expert_out import ExpertOut
from ..experts.expert_ref import ExpertRef
from .call_outcome import CallOutcome
from .call_status import CallStatus


@attrs.frozen
class FanoutResult:
    """Everything `call_experts` learned: one outcome per pick, in pick order."""

    outcomes: tuple[CallOutcome, ...] = attrs.field(converter=tuple)
    elapsed_ms: float = 0.0

    @property
    def calls(self) -> list[tuple[ExpertRef, ExpertOut]]:
        """The successful calls, as the aggregator takes them."""
        return [(o.expert, o.out) for o in self.outcomes if o.status is CallStatus.OK]

    @property
    def failures(self) -> dict[str, str]:
        """Expert name → cause, for every pick that did not produce an output."""
        return {o.expert.name: f"{o.status.value}: {o.cause}" for o in self.outcomes if o.status is not CallStatus.OK}

    @property
    def drop_count(self) -> int:
        """Picks that never ran, or were cut, for lack of time or budget."""
        return sum(o.status in (CallStatus.DROPPED, CallStatus.TIMED_OUT) for o in self.outcomes)
