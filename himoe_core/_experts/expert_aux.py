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

    @classmethod
    def measured(cls, latency_ms: float, cost_units: float, trace_id: str | None) -> ExpertAux:
        """The aux of a plain value: the router's measured latency and expected cost, full
        confidence. The router's floats are checked cheaply; anything else goes the validated way."""
        if cls is not ExpertAux or not (
            type(latency_ms) is float
            and type(cost_units) is float
            and 0.0 <= latency_ms < math.inf
            and 0.0 <= cost_units < math.inf
        ):
            return cls(latency_ms, cost_units, 1.0, trace_id)
        return _checked(latency_ms, cost_units, 1.0, trace_id)

    def stamped(self, latency_ms: float, trace_id: str | None) -> ExpertAux:
        """This aux with the router's measured latency (ms, a float >= 0) and the request's
        trace id; cost and confidence are kept, already validated. A subclass keeps its type."""
        if type(self) is not ExpertAux or type(latency_ms) is not float or not 0.0 <= latency_ms < math.inf:
            return attrs.evolve(self, latency_ms=latency_ms, trace_id=trace_id)  # the general, validated way
        return _checked(latency_ms, self.cost_units, self.confidence, trace_id)


def _checked(latency_ms: float, cost_units: float, confidence: float, trace_id: str | None) -> ExpertAux:
    """An ExpertAux from values already checked, without running the validators again: the
    router makes one per expert call."""
    aux = object.__new__(ExpertAux)
    object.__setattr__(aux, "latency_ms", latency_ms)
    object.__setattr__(aux, "cost_units", cost_units)
    object.__setattr__(aux, "confidence", confidence)
    object.__setattr__(aux, "trace_id", trace_id)
    return aux
