from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy_exports import lazy_exports

if TYPE_CHECKING:
    from .aggregated_out import AggregatedOut
    from .aggregator_trait import Aggregator
    from .best_score_aggregator import BestScoreAggregator
    from .confidence_aggregator import ConfidenceAggregator
    from .mix_meta import MixMeta
    from .weighted_mean_aggregator import WeightedMeanAggregator
    from .weighted_vote_aggregator import WeightedVoteAggregator

_EXPORTS = {
    "AggregatedOut": ".aggregated_out",
    "Aggregator": ".aggregator_trait",
    "BestScoreAggregator": ".best_score_aggregator",
    "ConfidenceAggregator": ".confidence_aggregator",
    "MixMeta": ".mix_meta",
    "WeightedMeanAggregator": ".weighted_mean_aggregator",
    "WeightedVoteAggregator": ".weighted_vote_aggregator",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "AggregatedOut",
    "Aggregator",
    "BestScoreAggregator",
    "ConfidenceAggregator",
    "MixMeta",
    "WeightedMeanAggregator",
    "WeightedVoteAggregator",
]
