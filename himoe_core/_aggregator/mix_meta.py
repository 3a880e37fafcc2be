from __future__ import annotations

from collections.abc import Iterable

import attrs
from himoe_registry import ExpertId


# Named converters, not `tuple`: mypy's attrs plugin types a field's __init__ parameter from its converter's signature.
def _weights(items: Iterable[tuple[ExpertId, float]]) -> tuple[tuple[ExpertId, float], ...]:
    return tuple(items)


def _failures(items: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    return tuple(items)


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
    util_by_expert: tuple[tuple[ExpertId, float], ...] = attrs.field(default=(), converter=_weights)
    failures: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_failures)
    disagreement: float | None = None
    cost_units: float = 0.0
    aggregator: str = ""
