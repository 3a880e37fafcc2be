from __future__ import annotations

import attrs
from himoe_registry import ExpertId


@attrs.frozen
class MixMeta:
    """Telemetry of one mixture step.

    `entropy` of the gate (nats), `topk` experts picked, `lat_total_ms` wall time of the
    fan-out, `drop_count` experts dropped or cut for time/budget, `util_by_expert` the gate weight
    each candidate received (load-balance input), `failures` expert → cause, `disagreement`
    among successful outputs (0 = all agree, None = not measured), `cost_units` spent.
    """

    entropy: float = 0.0
    topk: int = 0
    lat_total_ms: float = 0.0
    drop_count: int = 0
    util_by_expert: tuple[tuple[ExpertId, float], ...] = attrs.field(default=(), converter=tuple)
    failures: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=tuple)
    disagreement: float | None = None
    cost_units: float = 0.0
    aggregator: str = ""
