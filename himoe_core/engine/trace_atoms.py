"""A trace kept as atoms: one flat tuple of strings, numbers and None, taken when the request
ends and rendered into the documented JSON-ready dict only when someone reads it.

Why not keep the dict, or JSON text: a kept dict holds about a hundred objects that every full
garbage collection walks (10,000 kept traces made each one pause 70–160 ms), and rendering it
then encoding it to JSON cost ~26 µs a request, more than the rest of a fast request's
bookkeeping. One flat tuple of atoms costs a few µs to take, holds no reference to the request,
and the collector stops walking it after its first collection. (Nested tuples would not do: a
collection untracks one level of them at a time, as it finds containers before their contents.)
Sections of variable length are preceded by their counts and read back in the order they were
written. Rounding is applied when rendering, so taking atoms is mostly copying references.
"""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any, Iterator

if TYPE_CHECKING:
    from ..context import Context
    from ..errors import MoeError
    from ..input import InputData
    from ..value import Value
    from .route_attempt import RouteAttempt

_NAMES: dict[int, tuple[Any, dict[Any, str]]] = {}
"""id(router) → (its experts, expert id → name): built once per set of experts."""


def attempt_atoms(attempt: RouteAttempt, out: list | None = None) -> list:
    """What a router's attempt contributes to the trace, appended to `out` (see `render_attempt`)."""
    out = [] if out is None else out
    names = _names(attempt.router.handle)
    scores, fanout, aggregated = attempt.scores, attempt.fanout, attempt.aggregated
    error = None if attempt.error is None else f"{type(attempt.error).__name__}: {attempt.error}"
    out += (attempt.router.id, attempt.ok, error, -1 if scores is None else len(scores),
            len(attempt.picks), -1 if fanout is None else len(fanout.outcomes))
    if scores is not None:
        for eid, logit, prob in zip(scores.ids, scores.logits, scores.probs):
            out += (_id_text(eid), names.get(eid), logit, prob)
        # The probability the policy had of making the first pick (1.0 for a deterministic
        # gate); later picks follow from it, so they carry none.
        samples = getattr(attempt.router.handle, "samples_first", False)
        out.append(scores.prob(attempt.picks[0].id) if samples and attempt.picks else 1.0)
        for ref in attempt.picks:
            out += (ref.name, _id_text(ref.id))
    if fanout is not None:
        for o in fanout.outcomes:
            result = o.out
            out += (o.expert.name, _id_text(o.expert.id), o.status.value, o.latency_ms)
            if result is None:
                out += (None, None, None, None, None)
            else:
                out += (result.aux.cost_units, result.aux.confidence, *_value_atoms(result.value))
            out.append(o.cause or None)
    if aggregated is not None:
        meta = aggregated.mix_info
        out += (meta.aggregator, meta.entropy, meta.topk, meta.lat_total_ms, meta.drop_count, meta.cost_units,
                meta.disagreement, len(meta.util_by_expert), len(meta.failures), len(aggregated.weights))
        for eid, share in (*meta.util_by_expert, *aggregated.weights):
            out += (names[eid] if eid in names else _id_text(eid), float(share))
        for pair in meta.failures:
            out += pair
    return out


def render_attempt(atoms: Iterator) -> dict[str, Any]:
    """The trace's entry for one attempt (`trace["attempts"][i]`, docs/traces.md), read from an
    iterator over its atoms."""
    take = atoms.__next__
    router, ok, error, candidates, picks, calls = (take() for _ in range(6))
    trace: dict[str, Any] = {"router": router, "status": "ok" if ok else "failed"}
    if error is not None:
        trace["error"] = error
    if candidates >= 0:
        gate = trace["gate"] = []
        for _ in range(candidates):
            eid, name, logit, prob = take(), take(), take(), take()
            # an id that is not one of the router's experts is named by itself
            gate.append({"expert": eid if name is None else name, "id": eid, "logit": _round6(logit),
                         "prob": _round6(prob)})
        propensity = _round6(take())
        trace["picks"] = [{"expert": take(), "id": take(), "propensity": propensity if rank == 0 else None}
                          for rank in range(picks)]
    if calls >= 0:
        trace["calls"] = [
            {"expert": take(), "id": take(), "status": take(), "latency_ms": _round3(take()), "cost_units": take(),
             "confidence": take(), "value": _render_value(take(), take(), take()), "cause": take()}
            for _ in range(calls)]
    if ok:  # an attempt succeeds exactly when it aggregated an answer
        aggregator, entropy, topk, lat_total, drops, cost, disagreement, util, failures, weights = (
            take() for _ in range(10))
        util_by_expert = {take(): _round6(take()) for _ in range(util)}
        shares = {take(): _round6(take()) for _ in range(weights)}
        trace["mix"] = {
            "aggregator": aggregator,
            "entropy": _round6(entropy),
            "topk": topk,
            "lat_total_ms": _round3(lat_total),
            "drop_count": drops,
            "cost_units": cost,
            "disagreement": None if disagreement is None else _round6(disagreement),
            "util_by_expert": util_by_expert,
            "failures": {take(): take() for _ in range(failures)},
            "weights": shares,
        }
    return trace


def request_atoms(x: InputData, ctx: Context, attempts: list[RouteAttempt], elapsed_ms: float, *,
                  served: str | None = None, value: Value | None = None, error: MoeError | None = None,
                  chain: list[dict[str, Any]] | None = None, shadows: list | None = None) -> tuple:
    """A whole request's trace as one flat tuple of atoms (see `render_request`)."""
    out = [ctx.trace_id, x.describe(), x.task, ctx.budget_ms, ctx.depth, elapsed_ms,
           None if error is None else f"{type(error).__name__}: {error}", served,
           *(_value_atoms(value) if value is not None else (None, None, None)),
           None if chain is None else json.dumps(chain),
           None if shadows is None else json.dumps(shadows) if shadows else "",
           len(attempts)]
    for attempt in attempts:
        attempt_atoms(attempt, out)
    return tuple(out)


def render_request(atoms: tuple) -> dict[str, Any]:
    """The documented trace dict of a request (docs/traces.md) from its atoms."""
    read = iter(atoms)
    take = read.__next__
    trace_id, described, task, budget_ms, depth, elapsed_ms, error, served = (take() for _ in range(8))
    value = _render_value(take(), take(), take())
    chain, shadows, attempts = take(), take(), take()
    trace: dict[str, Any] = {
        "trace_id": trace_id,
        "input": described,
        "task": task,
        "budget_ms": budget_ms,
        "depth": depth,
        "attempts": [render_attempt(read) for _ in range(attempts)],
    }
    if error is not None:
        trace["error"] = error
        trace["elapsed_ms"] = elapsed_ms
        return trace
    if chain is not None:
        trace["chain"] = json.loads(chain)
    trace["router"] = served
    trace["value"] = value
    trace["elapsed_ms"] = elapsed_ms
    trace["error"] = None
    if shadows is not None:
        trace["shadows"] = json.loads(shadows) if shadows else []
    return trace


_ATOMIC = (str, int, float, bool, type(None))


def _value_atoms(value: Value) -> tuple:
    """(kind, schema, data) when the value's JSON data is a single atom (text), else (None, None,
    the JSON text of `value.to_jsonable()`)."""
    data = value.data
    if type(data) is str or data is None:  # text (most answers) needs no dict made
        return value.kind.value, value.schema, data
    jsonable = value.to_jsonable()
    data = jsonable["data"]
    if type(data) in _ATOMIC:
        return jsonable["kind"], jsonable["schema"], data
    return None, None, json.dumps(jsonable)


def _render_value(kind: str | None, schema: int | None, data: Any) -> dict[str, Any] | None:
    if kind is not None:
        return {"kind": kind, "schema": schema, "data": data}
    return None if data is None else json.loads(data)


def _names(router: Any) -> dict[Any, str]:
    experts = getattr(router, "experts", ())
    cached = _NAMES.get(id(router))
    if cached is None or cached[0] is not experts:  # the experts tuple is kept: its id is not reused
        if len(_NAMES) >= 256:
            _NAMES.clear()
        cached = _NAMES[id(router)] = (experts, {ref.id: ref.name for ref in experts})
    return cached[1]


def _round6(x: float) -> float:
    """`round(x, 6)` for the finite floats of a trace, ~4x cheaper (traces round a few dozen)."""
    try:
        return round(x * 1e6) / 1e6
    except (OverflowError, ValueError):  # inf or NaN: shown as they are
        return x


def _round3(x: float) -> float:
    try:
        return round(x * 1e3) / 1e3
    except (OverflowError, ValueError):
        return x


@functools.lru_cache(maxsize=4096, typed=True)
def _id_text(eid: Any) -> str:
    """`str(eid)` (16 hex digits for an ExpertId), cached: traces print the same few ids on every
    request. `typed` keeps an ExpertId apart from the plain int equal to it."""
    return str(eid)
