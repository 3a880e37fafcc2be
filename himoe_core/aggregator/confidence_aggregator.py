from __future__ import annotations

from ..router.gate_scores import GateScores
from .aggregated_out import AggregatedOut
from .mixing import Calls, ranked, single_choice, usable


class ConfidenceAggregator:
    """The output with the highest confidence reported by its expert; ties go to the better
    gate rank."""

    id = "confidence"

    def combine(self, calls: Calls, scores: GateScores) -> AggregatedOut:
        """The most confident successful output."""
        candidates = ranked(usable(calls, self.id), scores)
        winner = max(candidates, key=lambda call: call[1].aux.confidence)  # max keeps the first of ties
        return single_choice(self.id, candidates, scores, winner)
