from __future__ import annotations

from typing import Any

from ..router.gate_scores import GateScores
from ..value import Value
from .aggregated_out import AggregatedOut
from .mixing import Calls, mix_meta, normalise_kinds, normalised_weights, ranked, usable


class WeightedVoteAggregator:
    """Pools equal answers, each vote weighing gate probability × confidence; the heaviest answer
    wins (ties: the one backed by the best-ranked expert). Answers are compared by
    `Value.vote_key`: classifier outputs with the same "label" pool even when their probabilities
    differ. MixMeta.disagreement is the share of weight that voted otherwise."""

    id = "weighted_vote"

    def combine(self, calls: Calls, scores: GateScores) -> AggregatedOut:
        """The answer with the most gate × confidence weight behind it, as given by its
        best-ranked voter."""
        candidates = normalise_kinds(ranked(usable(calls, self.id), scores), self.id)
        pooled: dict[Any, float] = {}
        first: dict[Any, Value] = {}
        for ref, out in candidates:  # insertion order = gate rank, which breaks ties
            key = out.value.vote_key()
            pooled[key] = pooled.get(key, 0.0) + scores.prob(ref.id) * out.aux.confidence
            first.setdefault(key, out.value)
        winner = max(pooled, key=pooled.__getitem__)
        voters = [(ref.id, scores.prob(ref.id) * out.aux.confidence) for ref, out in candidates
                  if out.value.vote_key() == winner]
        value = first[winner]
        return AggregatedOut(value, mix_meta(self.id, candidates, scores, value), normalised_weights(voters))
