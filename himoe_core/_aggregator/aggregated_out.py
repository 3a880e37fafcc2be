from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import attrs
from himoe_registry import ExpertId

from .._value import Value

# Typed for mypy's attrs plugin (it types each __init__ parameter from the converter's signature);
# at run time the builtin itself, so building one on every request runs no Python frame.
if TYPE_CHECKING:

    def _weights(items: Iterable[tuple[ExpertId, float]]) -> tuple[tuple[ExpertId, float], ...]: ...

else:
    _weights = tuple


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
