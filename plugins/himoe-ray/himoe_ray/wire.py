"""What crosses the wire to a replica and back: plain values only (str, bytes, numbers, lists,
dicts, numpy arrays), never a pickled himoe object, so that a replica's himoe version may
differ from the caller's as long as this format holds."""

from __future__ import annotations

from typing import Any

import numpy as np

from himoe_core import (
    DeadlineExceeded,
    ExpertAux,
    ExpertFailed,
    ExpertOut,
    InputData,
    InvalidInput,
    Plan,
    PlanStep,
    Value,
)
from himoe_core.routing import InputKind

FORMAT = 1


def encode_request(x: InputData, *, budget_ms: float, trace_id: str, state: tuple[int, list] | None) -> dict:
    """The request a replica receives: the input, the time left, and the learned state to use."""
    return {
        "format": FORMAT,
        "kind": x.kind.value,
        "payload": x.payload,
        "task": x.task,
        "context": [list(pair) for pair in x.context],
        "budget_ms": budget_ms,
        "trace_id": trace_id,
        "state": state,
    }


def decode_input(request: dict) -> InputData:
    # Checked against the caller's [limits] already: the replica's defaults must not refuse it.
    payload = request["payload"]
    return InputData(
        InputKind(request["kind"]),
        np.asarray(payload) if request["kind"] == "features" else payload,
        request["task"],
        tuple((key, value) for key, value in request.get("context", ())),
    )


def encode_out(out: ExpertOut) -> dict:
    value = out.value
    data: Any = value.data
    if value.kind.value == "plan":
        data = value.data.to_jsonable()
    return {
        "kind": value.kind.value,
        "schema": value.schema,
        "data": data,
        "cost_units": out.aux.cost_units,
        "confidence": out.aux.confidence,
    }


def encode_error(exc: BaseException) -> dict:
    if isinstance(exc, ExpertFailed):
        return {"error": "ExpertFailed", "message": exc.cause}
    kind = type(exc).__name__ if isinstance(exc, (InvalidInput, DeadlineExceeded)) else "error"
    try:
        message = " ".join(str(exc).split())
    except Exception:
        message = "<unprintable message>"
    return {"error": kind, "message": f"{type(exc).__name__}: {message}" if kind == "error" else message}


def decode_reply(reply: Any, name: str) -> ExpertOut:
    """The replica's answer as an ExpertOut; its error raised as InvalidInput or ExpertFailed."""
    if not isinstance(reply, dict) or "kind" not in reply and "error" not in reply:
        raise ExpertFailed(name, f"the replica answered something else than a himoe-ray reply: {type(reply).__name__}")
    if "error" in reply:
        if reply["error"] == "InvalidInput":
            raise InvalidInput(reply["message"])
        raise ExpertFailed(name, f"on Ray: {reply['message']}")
    kind, data, schema = reply["kind"], reply["data"], reply["schema"]
    if kind == "text":
        value = Value.text(data, schema)
    elif kind == "json":
        value = Value.json(data, schema)
    elif kind == "plan":
        value = Value.plan(Plan(data["goal"], [PlanStep(s["description"], s["done"]) for s in data["steps"]]), schema)
    elif kind == "embedding":
        value = Value.embedding(data, schema)
    elif kind == "bytes":
        value = Value.bytes(data, schema)
    else:
        value = Value.none()
    return ExpertOut(value, ExpertAux(cost_units=reply["cost_units"], confidence=reply["confidence"]))
