from __future__ import annotations

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
