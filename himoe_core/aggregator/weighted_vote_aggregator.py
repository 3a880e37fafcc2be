from __future__ import annotations

from ..router.gate_scores import GateScores
from ..value import Value
from .aggregated_out import AggregatedOut
from .mixing import Calls, mix_meta, normalise_kinds, normalised_weights, ranked, usable


class WeightedVoteAggregator:
    """Pools equal values, each vote weighing gate probability × confidence; the heaviest value
    wins (ties: the one backed by the best-ranked expert). MixMeta.disagreement is the share of
    weight that voted otherwise."""

    id = "weighted_vote"

    def combine(self, calls: Calls, scores: GateScores) -> AggregatedOut:
        """The value with the most gate × confidence weight behind it."""
        candidates = normalise_kinds(ranked(usable(calls, self.id), scores), self.id)
        pooled: dict[Value, float] = {}
        for ref, out in candidates:  # insertion order = gate rank, which breaks ties
            pooled[out.value] = pooled.get(out.value, 0.0) + scores.prob(ref.id) * out.aux.confidence
        winner = max(pooled, key=pooled.__getitem__)
        voters = [(ref.id, scores.prob(ref.id) * out.aux.confidence) for ref, out in candidates if out.value == winner]
        return AggregatedOut(winner, mix_meta(self.id, candidates, scores, winner), normalised_weights(voters))
