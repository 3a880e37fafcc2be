from __future__ import annotations

import math
import numbers
from typing import Any

import attrs

from .._errors import InvalidInput


def _as_float(value: Any) -> Any:
    """Plain floats from any real number (numpy's float32 included); other values are left for the
    validators to reject by name."""
    if type(value) is float:  # the common case, ~6x cheaper than the ABC check below
        return value
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # an int beyond float range: reported as infinite
            return math.inf
    return value


def _finite_non_negative(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if type(value) is float and 0.0 <= value < math.inf:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise InvalidInput(f"ExpertAux.{attribute.name} must be a finite number >= 0, got {value!r}")


def _probability(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if type(value) is float and 0.0 <= value <= 1.0:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise InvalidInput(f"ExpertAux.confidence must be a number in [0, 1], got {value!r}")


@attrs.frozen
class ExpertAux:
    """What an expert reports beside its value.

    `cost_units` and `confidence` come from the expert; `latency_ms` and `trace_id` are measured
    and stamped by the router — whatever the expert put there is overwritten.
    """

    latency_ms: float = attrs.field(default=0.0, converter=_as_float, validator=_finite_non_negative)
    cost_units: float = attrs.field(default=0.0, converter=_as_float, validator=_finite_non_negative)
    confidence: float = attrs.field(default=1.0, converter=_as_float, validator=_probability)
    trace_id: str | None = None
