from __future__ import annotations

from ..router.gate_scores import GateScores
from .aggregated_out import AggregatedOut
from .mixing import Calls, ranked, single_choice, usable


class BestScoreAggregator:
    """The output of the expert with the highest gate probability, among those that succeeded
    (the seed's default; ties follow the gate's deterministic ranking)."""

    id = "best_score"

    def combine(self, calls: Calls, scores: GateScores) -> AggregatedOut:
        """The best-gated successful output."""
        candidates = ranked(usable(calls, self.id), scores)
        return single_choice(self.id, candidates, scores, candidates[0])
