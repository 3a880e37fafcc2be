from __future__ import annotations

from .._errors import NoExpertSelected
from .._router.gate_scores import GateScores
from .._value.value_kind import ValueKind
from .aggregated_out import AggregatedOut
from .mixing import Calls


class BestScoreAggregator:
    """The output of the expert with the highest gate probability, among those that succeeded
    with a value (the seed's default; ties follow the gate's deterministic ranking)."""

    id = "best_score"

    def combine(self, calls: Calls, scores: GateScores) -> AggregatedOut:
        """The best-gated successful output."""
        if not calls:
            raise NoExpertSelected(f"aggregator {self.id!r} received no successful output")
        # the default aggregator, on every request: written out rather than through `mixing`
        answered = [call for call in calls if call[1].value.kind is not ValueKind.NONE] or calls
        ref, out = min(answered, key=lambda call: scores.rank(call[0].id))
        return AggregatedOut(out.value, ((ref.id, 1.0),))
