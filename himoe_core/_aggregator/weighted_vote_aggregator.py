from __future__ import annotations

from typing import Any

from .._router.gate_scores import GateScores
from .._value import Value
from .aggregated_out import AggregatedOut
from .mixing import Calls, normalise_kinds, normalised_weights, ranked, usable


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
        keys = [out.value.vote_key() for _, out in candidates]
        pooled: dict[Any, float] = {}
        first: dict[Any, Value] = {}
        for key, (ref, out) in zip(keys, candidates):  # insertion order = gate rank, which breaks ties
            pooled[key] = pooled.get(key, 0.0) + scores.prob(ref.id) * out.aux.confidence
            first.setdefault(key, out.value)
        winner = max(pooled, key=pooled.__getitem__)
        voters = [
            (ref.id, scores.prob(ref.id) * out.aux.confidence)
            for key, (ref, out) in zip(keys, candidates)
            if key == winner
        ]
        total = sum(pooled.values())
        spread = 0.0 if total <= 0.0 else 1.0 - pooled[winner] / total  # over the answers as normalised
        return AggregatedOut(first[winner], normalised_weights(voters), disagreement=spread)
