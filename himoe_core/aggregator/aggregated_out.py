from __future__ import annotations

import attrs
from himoe_registry import ExpertId

from ..value import Value
from .mix_meta import MixMeta


@attrs.frozen
class AggregatedOut:
    """A router's single answer after local aggregation, with its telemetry.

    `weights` gives, for each expert whose output counted, its share of the final answer.
    """

    value: Value
    mix_info: MixMeta = attrs.field(factory=MixMeta)
    weights: tuple[tuple[ExpertId, float], ...] = attrs.field(default=(), converter=tuple)
