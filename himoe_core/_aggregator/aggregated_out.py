from __future__ import annotations

from collections.abc import Iterable

import attrs
from himoe_registry import ExpertId

from .._value import Value


def _weights(items: Iterable[tuple[ExpertId, float]]) -> tuple[tuple[ExpertId, float], ...]:
    return tuple(items)  # a named converter types the __init__ parameter for mypy's attrs plugin


@attrs.frozen
class AggregatedOut:
    """An aggregator's answer: the combined value and, for each expert whose output counted,
    its share of it (`weights`).

    `disagreement` is the aggregator's own measure of how much the outputs disagreed, for an
    aggregator that has a better one than the default (the share of gate × confidence weight
    behind other answers, which the fan-out computes when this is None).
    """

    value: Value
    weights: tuple[tuple[ExpertId, float], ...] = attrs.field(default=(), converter=_weights)
    disagreement: float | None = None
