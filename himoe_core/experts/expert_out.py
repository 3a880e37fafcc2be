from __future__ import annotations

from typing import Any

import attrs

from ..value import Value, to_value
from .expert_aux import ExpertAux


@attrs.frozen
class ExpertOut:
    """An expert's answer: a Value and its ExpertAux."""

    value: Value = attrs.field(validator=attrs.validators.instance_of(Value))
    aux: ExpertAux = attrs.field(factory=ExpertAux, validator=attrs.validators.instance_of(ExpertAux))

    @classmethod
    def of(cls, result: Any, *, cost_units: float = 0.0, confidence: float = 1.0) -> ExpertOut:
        """Wrap whatever an expert returned: an ExpertOut as is, anything else via `to_value`."""
        if isinstance(result, ExpertOut):
            return result
        return cls(to_value(result), ExpertAux(cost_units=cost_units, confidence=confidence))
