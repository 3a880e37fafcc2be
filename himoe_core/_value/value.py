from __future__ import annotations

import base64
import builtins
import json
import math
from collections.abc import Mapping
from typing import Any

import attrs
import numpy as np

from .._errors import InvalidInput
from .plan import Plan
from .value_kind import ValueKind

SCHEMA = 1
"""The schema version new values get unless the expert says otherwise."""


VOTE_FIELDS = ("label", "answer")
"""JSON entries that name the answer itself (see `Value.vote_key`)."""


def _schema(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 65535:
        raise InvalidInput(f"Value.schema must be an integer in [0, 65535], got {value!r}")


def _canonical_json(data: Any) -> str:
    try:
        return json.dumps(data, sort_keys=True, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        found = _non_finite(data, "$")
        if found is not None:  # json's own message does not say which value or where
            where, number = found
            raise InvalidInput(
                f"Json value must be JSON-serialisable without NaN or infinity: {where} is {number!r}"
            ) from None
        raise InvalidInput(f"Json value must be JSON-serialisable without NaN or infinity: {exc}") from None


def _non_finite(data: Any, where: str, depth: int = 0) -> tuple[str, float] | None:
    """The path and value of the first NaN or infinity inside `data`, if any."""
    if isinstance(data, float):
        return None if math.isfinite(data) else (where, data)
    if depth > 100:  # json.dumps refuses deeper (circular) structures on its own
        return None
    if isinstance(data, dict):
        items = ((f"{where}[{key!r}]", item) for key, item in data.items())
    elif isinstance(data, (list, tuple)):
        items = ((f"{where}[{index}]", item) for index, item in enumerate(data))
    else:
        return None
    for path, item in items:
        found = _non_finite(item, path, depth + 1)
        if found is not None:
            return found
    return None


@attrs.frozen(eq=False)
class Value:
    """The common output of every expert: one of Text, Plan, Json, Embedding, Bytes or None.

    Each carries a `schema` version so an expert can evolve its output format. Build values with
    the constructors (`Value.text("…")`, `Value.plan(plan)`, …) or `to_value(obj)`; read them with
    `as_text()`, `as_plan()`, … which return None for another kind. Values compare and hash by
    content, which is what vote aggregation pools on.
    """

    kind: ValueKind
    data: Any = attrs.field(repr=lambda d: _short_repr(d))
    schema: int = attrs.field(default=SCHEMA, validator=_schema)
    _key: Any = attrs.field(init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_key", _content_key(self.kind, self.data))

    # -- constructors ------------------------------------------------------------------------
    @classmethod
    def text(cls, data: str, schema: int = SCHEMA) -> Value:
        if not isinstance(data, str):
            raise InvalidInput(f"Text value must be a str, got {type(data).__name__}")
        return cls(ValueKind.TEXT, data, schema)

    @classmethod
    def plan(cls, data: Plan, schema: int = SCHEMA) -> Value:
        if not isinstance(data, Plan):
            raise InvalidInput(f"Plan value must be a Plan, got {type(data).__name__}")
        return cls(ValueKind.PLAN, data, schema)

    @classmethod
    def json(cls, data: Any, schema: int = SCHEMA) -> Value:
        # A private deep copy: the expert may keep mutating the object it returned.
        return cls(ValueKind.JSON, json.loads(_canonical_json(data)), schema)

    @classmethod
    def embedding(cls, data: Any, schema: int = SCHEMA) -> Value:
        from .._input.input_data import as_feature_vector

        return cls(ValueKind.EMBEDDING, as_feature_vector(data, "Embedding value", 1 << 24), schema)

    @classmethod
    def bytes(cls, data: bytes | bytearray | memoryview, schema: int = SCHEMA) -> Value:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise InvalidInput(f"Bytes value must be bytes-like, got {type(data).__name__}")
        return cls(ValueKind.BYTES, bytes(data), schema)

    @classmethod
    def none(cls) -> Value:
        return NONE

    # -- accessors ---------------------------------------------------------------------------
    def as_text(self) -> str | None:
        """The text, or None for another kind."""
        return self.data if self.kind is ValueKind.TEXT else None

    def as_plan(self) -> Plan | None:
        """The Plan, or None for another kind."""
        return self.data if self.kind is ValueKind.PLAN else None

    def as_json(self) -> Any:
        """The JSON data, or None for another kind."""
        return self.data if self.kind is ValueKind.JSON else None

    def as_embedding(self) -> np.ndarray | None:
        """The vector, or None for another kind."""
        return self.data if self.kind is ValueKind.EMBEDDING else None

    def as_bytes(self) -> builtins.bytes | None:  # `bytes` in this class is Value.bytes
        """The bytes, or None for another kind."""
        return self.data if self.kind is ValueKind.BYTES else None

    def vote_key(self) -> Any:
        """What two answers share when they are the same answer, for voting and disagreement:
        for a JSON object with a ``"label"`` or ``"answer"`` entry, that entry — two classifiers
        that both say 8 agree, whatever probabilities they attach; otherwise the whole value."""
        if self.kind is ValueKind.JSON and isinstance(self.data, dict):
            for field in VOTE_FIELDS:
                if field in self.data:
                    return (field, _canonical_json(self.data[field]))
        return self

    def is_none(self) -> bool:
        """Whether this is the None variant (no useful result)."""
        return self.kind is ValueKind.NONE

    def size_bytes(self) -> int:
        """The payload's size in bytes: UTF-8 bytes of text and of the canonical JSON, raw
        bytes, 4 per embedding value, the plan's text; 0 for None. What `[limits]
        max_output_bytes` measures (cheap: no copy for ASCII text or JSON)."""
        if self.kind is ValueKind.TEXT:
            return _utf8_size(self.data)
        if self.kind is ValueKind.JSON:
            return _utf8_size(self._key)
        if self.kind is ValueKind.BYTES:
            return len(self.data)
        if self.kind is ValueKind.EMBEDDING:
            return int(self.data.nbytes)
        if self.kind is ValueKind.PLAN:
            return _utf8_size(self.data.to_text())
        return 0

    def to_jsonable(self) -> dict[str, Any]:
        """A JSON-ready dict: {"kind", "schema", "data"} (bytes as base64)."""
        if self.kind is ValueKind.PLAN:
            data: Any = self.data.to_jsonable()
        elif self.kind is ValueKind.EMBEDDING:
            data = [float(v) for v in self.data]
        elif self.kind is ValueKind.BYTES:
            data = base64.b64encode(self.data).decode("ascii")
        else:
            data = self.data
        return {"kind": self.kind.value, "schema": self.schema, "data": data}

    @classmethod
    def from_jsonable(cls, data: Mapping[str, Any]) -> Value:
        """The Value that `to_jsonable` described (the inverse of it)."""
        payload: Any  # checked by the constructor of its kind
        try:
            kind, schema, payload = ValueKind(data["kind"]), data.get("schema", SCHEMA), data.get("data")
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidInput(
                f"not a Value's JSON form ({type(exc).__name__}: {exc}); "
                "expected {'kind': ..., 'schema': ..., 'data': ...}"
            ) from None
        if kind is ValueKind.TEXT:
            return cls.text(payload, schema)
        if kind is ValueKind.JSON:
            return cls.json(payload, schema)
        if kind is ValueKind.PLAN:
            return cls.plan(Plan.from_jsonable(payload), schema)
        if kind is ValueKind.EMBEDDING:
            return cls.embedding(payload, schema)
        if kind is ValueKind.BYTES:
            return cls.bytes(base64.b64decode(payload), schema)
        return cls.none()

    def render(self) -> str:
        """A human-readable rendering for terminals."""
        if self.kind is ValueKind.TEXT:
            text: str = self.data
            return text
        if self.kind is ValueKind.PLAN:
            plan: Plan = self.data
            return plan.to_text()
        if self.kind is ValueKind.JSON:
            return json.dumps(self.data, ensure_ascii=False, indent=2)
        if self.kind is ValueKind.NONE:
            return "(no result)"
        return _short_repr(self.data)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Value):
            return NotImplemented
        return self.kind is other.kind and self.schema == other.schema and self._key == other._key

    def __hash__(self) -> int:
        return hash((self.kind, self.schema, self._key))


def _content_key(kind: ValueKind, data: Any) -> Any:
    if kind is ValueKind.JSON:
        return _canonical_json(data)
    if kind is ValueKind.EMBEDDING:
        return data.tobytes()
    return data


def _utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _short_repr(data: Any) -> str:
    if isinstance(data, np.ndarray):
        return f"<{data.dtype}[{data.shape[0]}]>"
    if isinstance(data, bytes):
        return f"<{len(data)} bytes>"
    text = repr(data)
    return text if len(text) <= 80 else text[:77] + "..."


NONE = Value(ValueKind.NONE, None)
