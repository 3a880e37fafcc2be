from __future__ import annotations

from .._errors import NoExpertSelected
from .._router.gate_scores import GateScores
from .._value.value_kind import ValueKind
from .aggregated_out import AggregatedOut
from .mixing import Calls


class ConfidenceAggregator:
    """The output with the highest confidence reported by its expert, among those that
    succeeded with a value; ties go to the better gate rank."""

    id = "confidence"

    def combine(self, calls: Calls, scores: GateScores) -> AggregatedOut:
        """The most confident successful output."""
        if not calls:
            raise NoExpertSelected(f"aggregator {self.id!r} received no successful output")
        # the default router's aggregator, on every request: written out rather than through `mixing`
        answered = [call for call in calls if call[1].value.kind is not ValueKind.NONE] or calls
        ref, out = min(answered, key=lambda call: (-call[1].aux.confidence, scores.rank(call[0].id)))
        return AggregatedOut(out.value, ((ref.id, 1.0),))
