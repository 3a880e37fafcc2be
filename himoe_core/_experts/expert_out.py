from __future__ import annotations

import math
from typing import Any

import attrs
import numpy as np

from .._value import Plan, Value, to_value
from .expert_aux import ExpertAux

# What to wrap a raw result in, by its type: the message names the fix.
_WRAPPERS = (
    (str, "Value.text(...)"),
    (Plan, "Value.plan(...)"),
    (tuple, "Value.json(list(...))"),
    ((dict, list, int, float, bool), "Value.json(...)"),
    (np.ndarray, "Value.embedding(...)"),
    ((bytes, bytearray, memoryview), "Value.bytes(...)"),
    (type(None), "Value.none()"),
)


def _a_value(instance: Any, attribute: Any, value: Any) -> None:
    if isinstance(value, Value):
        return
    fix = next((wrapper for types, wrapper in _WRAPPERS if isinstance(value, types)), None)
    hint = (
        f"wrap it: ExpertOut({fix}, aux)"
        if fix
        else ("build one with Value.text, .json, .plan, .embedding, .bytes or .none")
    )
    raise TypeError(f"ExpertOut's value must be a Value, not a {type(value).__name__}; {hint}")


def _an_aux(instance: Any, attribute: Any, value: Any) -> None:
    if not isinstance(value, ExpertAux):
        raise TypeError(
            f"ExpertOut's aux must be an ExpertAux, not a {type(value).__name__}; "
            "e.g. ExpertAux(confidence=0.9, cost_units=1.0)"
        )


@attrs.frozen
class ExpertOut:
    """An expert's answer: a Value and its ExpertAux."""

    value: Value = attrs.field(validator=_a_value)
    aux: ExpertAux = attrs.field(factory=ExpertAux, validator=_an_aux)

    @classmethod
    def of(cls, result: Any, *, cost_units: float = 0.0, confidence: float = 1.0) -> ExpertOut:
        """Wrap whatever an expert returned: an ExpertOut as is, anything else via `to_value`."""
        if isinstance(result, ExpertOut):
            return result
        return cls(to_value(result), ExpertAux(cost_units=cost_units, confidence=confidence))

    @classmethod
    def measured(cls, value: Value, latency_ms: float, cost_units: float, trace_id: str | None) -> ExpertOut:
        """The output of an expert that returned a plain value: the router's measured latency and
        expected cost, full confidence. The router's floats are checked cheaply; anything else
        goes the validated way."""
        if not (isinstance(value, Value) and _plain(latency_ms) and _plain(cost_units)):
            return cls(value, ExpertAux(latency_ms, cost_units, 1.0, trace_id))
        return _trusted(value, _trusted_aux(latency_ms, cost_units, 1.0, trace_id))

    def stamped(self, latency_ms: float, trace_id: str | None) -> ExpertOut:
        """This output with the router's measured latency (ms) and the request's trace id in its
        aux; value, cost and confidence are kept, already validated. Subclasses keep their type."""
        aux = self.aux
        if type(self) is not ExpertOut or type(aux) is not ExpertAux or not _plain(latency_ms):
            return attrs.evolve(self, aux=attrs.evolve(aux, latency_ms=latency_ms, trace_id=trace_id))
        return _trusted(self.value, _trusted_aux(latency_ms, aux.cost_units, aux.confidence, trace_id))


# The router makes an output per expert call from values already checked: built without running
# the validators again (and without entering ExpertAux's module on every call).
def _plain(x: Any) -> bool:
    return type(x) is float and 0.0 <= x < math.inf


def _trusted_aux(latency_ms: float, cost_units: float, confidence: float, trace_id: str | None) -> ExpertAux:
    aux = object.__new__(ExpertAux)
    object.__setattr__(aux, "latency_ms", latency_ms)
    object.__setattr__(aux, "cost_units", cost_units)
    object.__setattr__(aux, "confidence", confidence)
    object.__setattr__(aux, "trace_id", trace_id)
    return aux


def _trusted(value: Value, aux: ExpertAux) -> ExpertOut:
    out = object.__new__(ExpertOut)
    object.__setattr__(out, "value", value)
    object.__setattr__(out, "aux", aux)
    return out
