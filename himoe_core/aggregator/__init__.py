from .aggregated_out import AggregatedOut
from .aggregator_trait import Aggregator
from .best_score_aggregator import BestScoreAggregator
from .confidence_aggregator import ConfidenceAggregator
from .mix_meta import MixMeta
from .weighted_mean_aggregator import WeightedMeanAggregator
from .weighted_vote_aggregator import WeightedVoteAggregator

__all__ = ["AggregatedOut", "Aggregator", "BestScoreAggregator", "ConfidenceAggregator", "MixMeta",
           "WeightedMeanAggregator", "WeightedVoteAggregator"]
