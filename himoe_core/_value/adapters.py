"""Light adapters that turn what experts return into a Value, and convert between kinds."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._errors import InvalidInput
from .plan import Plan
from .value import Value
from .value_kind import ValueKind


def to_value(obj: Any) -> Value:
    """str → Text, Plan → Plan, dict/list/number/bool → Json, ndarray → Embedding,
    bytes → Bytes, None → None; a Value is returned as is. A tuple is refused: an expert that
    returns one almost always meant ExpertOut(value, aux)."""
    if isinstance(obj, Value):
        return obj
    if obj is None:
        return Value.none()
    if isinstance(obj, str):
        return Value.text(obj)
    if isinstance(obj, Plan):
        return Value.plan(obj)
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return Value.bytes(obj)
    if isinstance(obj, np.ndarray):
        return Value.embedding(obj)
    if isinstance(obj, tuple):  # most often `return value, aux`, meant as an ExpertOut
        raise InvalidInput(
            "cannot turn a tuple into a Value: return ExpertOut(value, aux) rather than a "
            "(value, aux) pair, or a list for a JSON array"
        )
    if isinstance(obj, (dict, list, int, float, bool)):
        return Value.json(obj)
    raise InvalidInput(
        f"cannot turn a {type(obj).__name__} into a Value; return a str, Plan, dict, list, "
        "numpy array, bytes, None or a Value"
    )


def convert(value: Value, kind: ValueKind) -> Value:
    """Normalise a value to `kind` where a lossless-enough adapter exists (text ↔ plan).

    Raises InvalidInput when there is none, naming both kinds.
    """
    if value.kind is kind:
        return value
    if value.kind is ValueKind.PLAN and kind is ValueKind.TEXT:
        return Value.text(value.data.to_text(), value.schema)
    if value.kind is ValueKind.TEXT and kind is ValueKind.PLAN:
        return Value.plan(Plan.from_text(value.data), value.schema)
    raise InvalidInput(f"cannot convert a {value.kind.value} value to {kind.value}")
