from .aggregated_out import AggregatedOut
from .aggregator_trait import Aggregator
from .mix_meta import MixMeta

__all__ = ["AggregatedOut", "Aggregator", "MixMeta"]
