"""A request's trace kept as atoms: one flat tuple of strings, numbers and None, taken when the request
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

import copy
import functools
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._context import Context
    from .._decision.decision import Decision
    from .._errors import MoeError
    from .._input import InputData
    from .._value import Value

_ENCODER = json.JSONEncoder(check_circular=False, separators=(",", ":"))  # trees; compact: 11 % smaller


class TraceRecord:
    """One request's trace: its atoms (see the module's docstring), taken when the request ended, rendered
    into the JSON-ready dict when first read.

    Until the record is released (see TraceStore) every reader gets the same dict, and changes to
    it (shadow results arrive after the response left) are the trace. Released, a record keeps
    only what the garbage collector need not walk: its atoms, or the JSON text of a changed
    trace; each read then returns a new dict.
    """

    __slots__ = ("trace_id", "router", "_atoms", "_data", "_text", "_changed", "_released", "_decision")
    _setting = threading.Lock()  # held only to publish a change, never while rendering

    def __init__(
        self,
        trace_id: str,
        atoms: tuple[Any, ...] | None = None,
        data: dict[str, Any] | None = None,
        router: str | None = None,
        decision: Decision | None = None,
    ) -> None:
        if (atoms is None) == (data is None):
            raise ValueError("TraceRecord needs either the trace's atoms or the trace dict")
        self.trace_id = trace_id
        self.router = router if data is None else data.get("router")  # the serving router's id, None if it failed
        self._atoms = atoms
        self._data = data
        self._text: str | None = None
        self._changed = data is not None  # the dict is the trace: atoms cannot make it again
        self._released = False
        # The last router's Decision as it was made, kept while the record is among the newest
        # (feedback mostly comes soon); released with the dict, it is rebuilt from the atoms.
        self._decision = decision

    @classmethod
    def of(cls, trace: TraceRecord | dict[str, Any]) -> TraceRecord:
        """A record for a trace dict (a record stays itself)."""
        return trace if isinstance(trace, TraceRecord) else cls(trace["trace_id"], data=trace)

    def data(self) -> dict[str, Any]:
        """The trace dict: rendered on the first call and shared until the record is released
        (thread-safe); a new dict on each call once it is.

        Rendering runs outside any lock: the trio thread must never wait for a writer thread
        that the GIL has paused mid-render. Two threads may render the same record at once;
        the first to publish wins and both return its dict.
        """
        data = self._data
        if data is not None:
            return data
        text = self._text
        if text is not None:
            loaded: dict[str, Any] = json.loads(text)
            return loaded
        rendered = self._render()
        with TraceRecord._setting:
            if self._data is None and self._text is None and not self._released:
                self._data = rendered
            data, text = self._data, self._text
        if data is not None:
            return data
        return json.loads(text) if text is not None else rendered

    @property
    def released(self) -> bool:
        """Whether the record was released: it keeps no dict, only its atoms or JSON text."""
        return self._released

    @property
    def changed(self) -> bool:
        """Whether the trace was given as a dict or changed since: atoms cannot make it again."""
        return self._changed

    def copy(self) -> dict[str, Any]:
        """A copy of the trace dict that the caller may change freely."""
        data, text = self._data, self._text
        if data is not None:
            return copy.deepcopy(data)
        return json.loads(text) if text is not None else self._render()

    def rendered(self) -> dict[str, Any]:
        """A new trace dict made from the atoms (a trace given as a dict: a copy of it)."""
        return self._render() if self._atoms is not None else self.copy()

    def json(self) -> str:
        """The trace as JSON text (what the state file stores). A changed trace may be changed
        again meanwhile: its owner calls this under the lock it changes it under."""
        data, text = self._data, self._text  # in this order: `release` sets the text first
        if data is not None and self._changed:
            return _ENCODER.encode(data)
        if text is not None:
            return text
        return _ENCODER.encode(self._render())  # atoms never change: no lock needed

    def decision(self) -> Decision | None:
        """The last router's decision on this request (the serving one, or the failed one when
        the request failed); None for a trace given as a dict."""
        decision = self._decision
        if decision is not None:
            return decision
        return decisions_of(self._atoms)[-1] if self._atoms is not None else None

    def release(self) -> None:
        """Let the dict go: a changed trace is kept as JSON text, any other is made again from
        its atoms when read."""
        data = self._data
        text = _ENCODER.encode(data) if data is not None and self._changed else None
        with TraceRecord._setting:
            self._released = True
            self._decision = None
            if data is not None and self._data is data:
                if text is not None:
                    self._text = text  # before the dict goes: readers look at the dict first
                self._data = None

    def replace(self, data: dict[str, Any]) -> None:
        """Make `data` the trace (kept as a dict until the record is released again)."""
        with TraceRecord._setting:
            self._changed = True
            self._data = data
            self._text = None

    def _render(self) -> dict[str, Any]:
        atoms = self._atoms
        assert atoms is not None, "a record made from a dict keeps the dict or its JSON text"
        return render_request(atoms)

    def __repr__(self) -> str:
        state = (
            ("changed" if self._changed else "rendered")
            if self._data is not None
            else ("released as JSON" if self._text is not None else "released" if self._released else "atoms")
        )
        return f"TraceRecord({self.trace_id!r}, {state})"


def attempt_atoms(decision: Decision, names: Mapping[Any, str], out: list[Any] | None = None) -> list[Any]:
    """What a router's decision contributes to the trace, appended to `out` (see
    `render_attempt`); `names` maps expert ids to names."""
    out = [] if out is None else out
    scores, outcomes, meta = decision.scores, decision.outcomes, decision.mix
    error = None if decision.error is None else f"{type(decision.error).__name__}: {decision.error}"
    ok = decision.error is None
    out += (
        decision.router,
        ok,
        error,
        -1 if scores is None else len(scores.ids),
        len(decision.picks),
        -1 if meta is None and not outcomes else len(outcomes),
    )
    if scores is not None:
        estimates = scores.estimates or (None,) * len(scores.ids)
        for eid, logit, prob, estimate in zip(scores.ids, scores.logits, scores.probs, estimates):
            out += (_id_text(eid), names.get(eid), logit, prob, estimate)
        # Over many candidates the gate lists the top few and the picks: the rest in summary.
        out += (scores.count, scores.rest, scores.entropy() if scores.truncated else None)
        # The probability the policy had of making the first pick (1.0 for a deterministic
        # gate); later picks follow from it, so they carry none.
        out.append(decision.propensity)
        for eid in decision.picks:
            out += (names.get(eid, _id_text(eid)), _id_text(eid))
    if meta is not None or outcomes:
        for o in outcomes:
            result = o.out
            out += (o.name, _id_text(o.expert_id), o.status.value, o.latency_ms)
            if result is None:
                out += (None, None, None, None, None)
            else:
                out += (result.aux.cost_units, result.aux.confidence, *_value_atoms(result.value))
            out.append(o.cause or None)
    if ok:
        if meta is None:  # a router of its own making, or a decision made without calling
            from .._aggregator.mix_meta import MixMeta

            meta = MixMeta(
                entropy=0.0 if scores is None else scores.entropy(),
                topk=len(outcomes),
                util_by_expert=() if scores is None else scores.pairs(),
            )
        out += (
            meta.aggregator,
            meta.entropy,
            meta.topk,
            meta.lat_total_ms,
            meta.drop_count,
            meta.cost_units,
            meta.disagreement,
            len(meta.util_by_expert),
            len(meta.failures),
            len(decision.weights),
        )
        for eid, share in (*meta.util_by_expert, *decision.weights):
            out += (names[eid] if eid in names else _id_text(eid), float(share))
        for pair in meta.failures:
            out += pair
    # What learning needs beyond the trace, never rendered: see `decisions_of`. The features
    # sparse: a kept trace holding the dense vector (16 KB at hashing dim 4096) made 10,000
    # kept traces cost ~180 MB.
    features = decision.features
    out += (
        decision.model_version,
        *((None, None, None) if features is None else (features.dim, features.indices, features.values)),
        *(_value_atoms(decision.value) if decision.value is not None else (None, None, None)),
        len(decision.weights),
    )
    for eid, share in decision.weights:
        out += (_id_text(eid), share)
    return out


def render_attempt(atoms: Iterator[Any]) -> dict[str, Any]:
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
            eid, name, logit, prob, estimate = take(), take(), take(), take(), take()
            # an id that is not one of the router's experts is named by itself
            entry = {"expert": eid if name is None else name, "id": eid, "logit": _round6(logit), "prob": _round6(prob)}
            if estimate is not None:
                entry["estimate"] = _round6(estimate)
            gate.append(entry)
        count, rest, whole = take(), take(), take()
        if count > candidates:
            trace["gate_rest"] = _gate_rest(count - candidates, rest, whole, [g["prob"] for g in gate])
        propensity = _round6(take())
        trace["picks"] = [
            {"expert": take(), "id": take(), "propensity": propensity if rank == 0 else None} for rank in range(picks)
        ]
    if calls >= 0:
        trace["calls"] = [
            {
                "expert": take(),
                "id": take(),
                "status": take(),
                "latency_ms": _round3(take()),
                "cost_units": take(),
                "confidence": take(),
                "value": _render_value(take(), take(), take()),
                "cause": take(),
            }
            for _ in range(calls)
        ]
    if ok:  # an attempt succeeds exactly when it aggregated an answer
        aggregator, entropy, topk, lat_total, drops, cost, disagreement, util, failures, weights = (
            take() for _ in range(10)
        )
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
    for _ in range(7):  # the decision's own atoms: model version, features (3), value (3)
        take()
    for _ in range(2 * take()):  # and its weights by id
        take()
    return trace


def _gate_rest(count: int, mass: float, whole: float, listed: list[float]) -> dict[str, Any]:
    """The summary of the candidates a gate does not list: how many, their probability mass,
    and the entropy (nats) of their distribution renormalised, from the whole gate's entropy
    H = −Σ p log p: the unlisted part is S = H + Σ_listed p log p, and their own entropy is
    S / mass + log(mass)."""
    import math

    tail = whole + sum(p * math.log(p) for p in listed if p > 0.0)
    own = tail / mass + math.log(mass) if mass > 0.0 else 0.0
    return {"count": count, "mass": _round6(mass), "entropy": _round6(max(own, 0.0))}


def request_atoms(
    x: InputData,
    ctx: Context,
    attempts: list[Decision],
    names: Mapping[Any, str],
    elapsed_ms: float,
    *,
    served: str | None = None,
    value: Value | None = None,
    error: MoeError | None = None,
    chain: list[dict[str, Any]] | None = None,
    shadows: list[Any] | None = None,
) -> tuple[Any, ...]:
    """A whole request's trace as one flat tuple of atoms (see `render_request`)."""
    out = [
        ctx.trace_id,
        x.describe(),
        x.task,
        ctx.budget_ms,
        ctx.depth,
        elapsed_ms,
        None if error is None else f"{type(error).__name__}: {error}",
        served,
        *(_value_atoms(value) if value is not None else (None, None, None)),
        None if chain is None else json.dumps(chain),
        None if shadows is None else json.dumps(shadows) if shadows else "",
        x.kind.value,
        x.payload,
        x.context or None,
        len(attempts),
    ]
    for attempt in attempts:
        attempt_atoms(attempt, names, out)
    return tuple(out)


def render_request(atoms: tuple[Any, ...]) -> dict[str, Any]:
    """The documented trace dict of a request (docs/traces.md) from its atoms."""
    read = iter(atoms)
    take = read.__next__
    trace_id, described, task, budget_ms, depth, elapsed_ms, error, served = (take() for _ in range(8))
    value = _render_value(take(), take(), take())
    chain, shadows, _, _, context, attempts = take(), take(), take(), take(), take(), take()
    trace: dict[str, Any] = {
        "trace_id": trace_id,
        "input": described,
        "task": task,
        "budget_ms": budget_ms,
        "depth": depth,
        "attempts": [render_attempt(read) for _ in range(attempts)],
    }
    if context is not None:
        trace["context"] = dict(context)
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


def _value_atoms(value: Value) -> tuple[Any, ...]:
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


def decisions_of(atoms: tuple[Any, ...]) -> list[Decision]:
    """Each router's Decision on the request, from the trace's atoms (the last one served, or
    failed when the request did): what feedback learns from while the trace is kept."""
    from himoe_registry import ExpertId

    from .._decision.decision import Decision
    from .._encoder.encoded import Encoded, dense_vector
    from .._errors import MoeError
    from .._experts.expert_aux import ExpertAux
    from .._experts.expert_out import ExpertOut
    from .._input import InputData, InputKind
    from .._router.call_outcome import CallOutcome
    from .._router.call_status import CallStatus
    from .._router.gate_scores import GateScores
    from .._value import Value

    def value(kind: str | None, schema: int | None, data: Any) -> Value | None:
        rendered = _render_value(kind, schema, data)
        return None if rendered is None else Value.from_jsonable(rendered)

    read = iter(atoms)
    take = read.__next__
    trace_id, _, task = take(), take(), take()
    for _ in range(10):
        take()
    x = InputData(InputKind(take()), take(), task, take() or ())
    decisions = []
    for _ in range(take()):
        router, ok, error, candidates, picks, calls = (take() for _ in range(6))
        scores, propensity, picked, outcomes = None, 1.0, [], []
        if candidates >= 0:
            ids, logits, probs, estimates = [], [], [], []
            for _ in range(candidates):
                ids.append(ExpertId.parse(take()))
                take()
                logits.append(take())
                probs.append(take())
                estimates.append(take())
            count, rest, whole = take(), take(), take()
            scores = GateScores(
                ids,
                logits,
                probs,
                None if not estimates or None in estimates else estimates,
                count=count,
                rest=rest,
                whole_entropy=whole,
            )
            propensity = take()
            for _ in range(picks):
                take()
                picked.append(ExpertId.parse(take()))
        for _ in range(max(calls, 0)):
            name, eid, status, latency, cost, confidence = (take() for _ in range(6))
            answer = value(take(), take(), take())
            out = None if answer is None else ExpertOut(answer, ExpertAux(latency, cost, confidence, trace_id))
            outcomes.append(CallOutcome(ExpertId.parse(eid), name, CallStatus(status), out, latency, take() or ""))
        if ok:
            util, failures, weight_pairs = _skip_mix(take)
            for _ in range(2 * (util + weight_pairs + failures)):
                take()
        model_version, dim, indices, values = take(), take(), take(), take()
        answer = value(take(), take(), take())
        weights = [(ExpertId.parse(take()), take()) for _ in range(take())]
        decisions.append(
            Decision(
                trace_id,
                router,
                x,
                scores,
                picked,
                propensity,
                outcomes,
                answer,
                weights,
                None if dim is None else Encoded._of_sparse(dense_vector(dim, indices, values), indices, values),
                model_version,
                error=None if ok else MoeError(error),
            )
        )
    return decisions


def _skip_mix(take: Callable[[], Any]) -> tuple[int, int, int]:
    """Read past a mix's scalars; the counts of its util, failure and weight pairs."""
    for _ in range(7):
        take()
    return take(), take(), take()
