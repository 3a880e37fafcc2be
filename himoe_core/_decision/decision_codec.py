"""The one storage form of a Decision: versioned, plain JSON (no pickle), the same in the state
file and between processes. `encode` and `decode` are each other's inverse for every field but
the process-local `mix`, and `error`, which comes back as a plain MoeError with its message."""

from __future__ import annotations

import base64
import functools
import json
import math
from itertools import chain
from typing import Any

import numpy as np
from himoe_registry import ExpertId

from .. import _json_text
from .._encoder.encoded import Encoded, dense_vector
from .._errors import MoeError, StateError
from .._experts.expert_aux import ExpertAux
from .._experts.expert_out import ExpertOut
from .._input import InputData, InputKind, InputLimits
from .._router.call_outcome import CallOutcome
from .._router.call_status import CallStatus
from .._router.gate_scores import GateScores
from .._value import Value
from .decision import Decision

VERSION = 2
"""The record's format version; a reader refuses a newer one instead of misreading it.

- 2: the input's `context` (pairs of key and category or number) and the gate's `estimates`
  (each candidate's estimated value, when the router gives them);
- 1: the first; read as version 2 without context and without estimates."""
READS = (1, 2)

_RECORDED = InputLimits(max_text_chars=2**62, max_bytes=2**62, max_features=2**62, max_task_chars=2**62)
"""A recorded input passed the configured limits when it was routed: it is not checked against
the default ones again (a text routed under raised limits must still take feedback)."""


def encode(decision: Decision) -> str:
    """The decision as compact JSON text (by orjson, at C speed: the state writer encodes one per
    request). A decision with a NaN or an infinity among its numbers — which orjson would write
    as null, and `decode` could not give back — is written by `json` instead, as it always was."""
    record = to_record(decision)
    if _finite(decision):
        return _json_text.dumps(record)
    return _json_text.stdlib_dumps(record)


def _finite(decision: Decision) -> bool:
    """Whether every number `to_record` takes from the decision is finite, but for those finite
    by construction (a Value's, an ExpertAux's)."""
    scores = decision.scores
    numbers: list[Any] = [decision.propensity]
    if scores is not None:
        numbers += (*scores.logits, *scores.probs, *(scores.estimates or ()), scores.rest)
        if scores.truncated:
            numbers.append(scores.entropy())
    numbers += (outcome.latency_ms for outcome in decision.outcomes)
    return all(map(math.isfinite, chain(numbers, (weight for _, weight in decision.weights))))


def decode(text: str | bytes) -> Decision:
    """The Decision that `encode` wrote; StateError for a record this himoe cannot read."""
    try:
        record = json.loads(text)
    except ValueError as exc:
        raise StateError(f"a stored decision is not valid JSON ({exc}); the state file is damaged") from None
    return from_record(record)


def to_record(decision: Decision) -> dict[str, Any]:
    """The decision as a JSON-ready dict (`{"v": 2, ...}`)."""
    scores = decision.scores
    return {
        "v": VERSION,
        "trace_id": decision.trace_id,
        "router": decision.router,
        "model_version": decision.model_version,
        "input": _input_record(decision.input),
        "features": None if decision.features is None else _features_record(decision.features),
        "gate": None if scores is None else _gate_record(scores),
        "picks": [_id_text(eid) for eid in decision.picks],
        "propensity": decision.propensity,
        "outcomes": [_outcome_record(o) for o in decision.outcomes],
        "value": None if decision.value is None else decision.value.to_jsonable(),
        "weights": [(_id_text(eid), weight) for eid, weight in decision.weights],
        "error": None if decision.error is None else f"{type(decision.error).__name__}: {decision.error}",
    }


def from_record(record: dict[str, Any]) -> Decision:
    """The Decision a `to_record` dict describes."""
    version = record.get("v") if isinstance(record, dict) else None
    if version not in READS:
        raise StateError(
            f"a stored decision has format version {version!r}, this himoe reads versions "
            f"{', '.join(map(str, READS))}; upgrade himoe to read it"
        )
    try:
        gate = record["gate"]
        value = record["value"]
        return Decision(
            trace_id=record["trace_id"],
            router=record["router"],
            input=_input(record["input"]),
            scores=None
            if gate is None
            else GateScores(
                [ExpertId.parse(e) for e in gate["ids"]],
                gate["logits"],
                gate["probs"],
                gate.get("estimates"),
                count=gate.get("count"),
                rest=gate.get("rest", 0.0),
                whole_entropy=gate.get("entropy"),
            ),
            picks=[ExpertId.parse(e) for e in record["picks"]],
            propensity=float(record["propensity"]),
            outcomes=[_outcome(o, record["trace_id"]) for o in record["outcomes"]],
            value=None if value is None else Value.from_jsonable(value),
            weights=[(ExpertId.parse(e), float(w)) for e, w in record["weights"]],
            features=None if record["features"] is None else Encoded(_features(record["features"])),
            model_version=int(record["model_version"]),
            error=None if record.get("error") is None else MoeError(record["error"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise StateError(
            f"a stored decision is damaged ({type(exc).__name__}: {exc}); it cannot be learned from"
        ) from None


@functools.lru_cache(maxsize=4096, typed=True)
def _id_text(eid: ExpertId) -> str:
    """`str(eid)`, cached: a record names the same few experts every time (`typed`: an ExpertId
    is never taken for the plain int equal to it)."""
    return str(eid)


def _gate_record(scores: GateScores) -> dict[str, Any]:
    """The listed candidates (with their estimates when the router gives them); over many,
    also how many there were in all, the probability mass of the unlisted ones and the whole
    gate's entropy (records written before #22 have none)."""
    gate: dict[str, Any] = {
        "ids": [_id_text(eid) for eid in scores.ids],
        "logits": scores.logits,  # tuples: written as JSON arrays, as lists are
        "probs": scores.probs,
    }
    if scores.estimates is not None:
        gate["estimates"] = scores.estimates
    if scores.truncated:
        gate.update(count=scores.count, rest=scores.rest, entropy=scores.entropy())
    return gate


def _input_record(x: InputData) -> dict[str, Any]:
    if x.kind is InputKind.TEXT:
        data: Any = x.payload
    elif x.kind is InputKind.BYTES:
        data = base64.b64encode(x.payload).decode("ascii")  # type: ignore[arg-type]  # `kind` fixes the payload's type
    else:
        data = [float(v) for v in x.payload]
    record = {"kind": x.kind.value, "task": x.task, "data": data}
    if x.context:
        record["context"] = x.context
    return record


def _input(record: dict[str, Any]) -> InputData:
    kind, task, data = record["kind"], record["task"], record["data"]
    context = tuple(tuple(pair) for pair in record.get("context", ()))
    if kind == InputKind.TEXT.value:
        return InputData.text(data, task=task, context=context, limits=_RECORDED)
    if kind == InputKind.BYTES.value:
        return InputData.bytes(base64.b64decode(data), task=task, context=context, limits=_RECORDED)
    return InputData.features(data, task=task, context=context, limits=_RECORDED)


def _features_record(features: Encoded) -> dict[str, Any]:
    """Sparse (hashed text features are mostly zeros), as base64 of little-endian int32
    positions and float32 values: exact, and several times faster to write than JSON numbers."""
    return {
        "dim": features.dim,
        "indices": base64.b64encode(features.indices.astype("<i4").tobytes()).decode("ascii"),
        "values": base64.b64encode(features.values.astype("<f4").tobytes()).decode("ascii"),
    }


def _features(record: dict[str, Any]) -> np.ndarray:
    return dense_vector(
        int(record["dim"]),
        np.frombuffer(base64.b64decode(record["indices"]), dtype="<i4"),
        np.frombuffer(base64.b64decode(record["values"]), dtype="<f4"),
    )


def _outcome_record(outcome: CallOutcome) -> dict[str, Any]:
    out = outcome.out
    return {
        "id": _id_text(outcome.expert_id),
        "name": outcome.name,
        "status": outcome.status.value,
        "latency_ms": outcome.latency_ms,
        "cause": outcome.cause,
        "value": None if out is None else out.value.to_jsonable(),
        "confidence": None if out is None else out.aux.confidence,
        "cost_units": None if out is None else out.aux.cost_units,
    }


def _outcome(record: dict[str, Any], trace_id: str) -> CallOutcome:
    value = record["value"]
    out = (
        None
        if value is None
        else ExpertOut(
            Value.from_jsonable(value),
            ExpertAux(
                latency_ms=record["latency_ms"],
                cost_units=record["cost_units"],
                confidence=record["confidence"],
                trace_id=trace_id,
            ),
        )
    )
    return CallOutcome(
        ExpertId.parse(record["id"]),
        record["name"],
        CallStatus(record["status"]),
        out,
        float(record["latency_ms"]),
        record["cause"],
    )
