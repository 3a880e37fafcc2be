from __future__ import annotations

import functools
from typing import Any

import attrs

from ..aggregator.aggregated_out import AggregatedOut
from ..experts.expert_ref import ExpertRef
from ..router.call_outcome import CallOutcome
from ..router.fanout_result import FanoutResult
from ..router.gate_scores import GateScores
from ..router.router_ref import RouterRef


@attrs.frozen
class RouteAttempt:
    """One router's pass over a request — gate, picks, fan-out, aggregation — or how it failed."""

    router: RouterRef
    scores: GateScores | None = None
    picks: tuple[ExpertRef, ...] = attrs.field(default=(), converter=tuple)
    fanout: FanoutResult | None = None
    aggregated: AggregatedOut | None = None
    error: Exception | None = attrs.field(default=None, eq=False)

    @property
    def ok(self) -> bool:
        return self.aggregated is not None

    def to_jsonable(self) -> dict[str, Any]:
        names = {ref.id: ref.name for ref in getattr(self.router.handle, "experts", ())}

        def label(eid: Any) -> str:
            return names[eid] if eid in names else _id_text(eid)

        trace: dict[str, Any] = {"router": self.router.id, "status": "ok" if self.ok else "failed"}
        if self.error is not None:
            trace["error"] = f"{type(self.error).__name__}: {self.error}"
        if self.scores is not None:
            trace["gate"] = [
                {"expert": label(eid), "id": _id_text(eid), "logit": _round6(logit), "prob": _round6(prob)}
                for eid, logit, prob in zip(self.scores.ids, self.scores.logits, self.scores.probs)
            ]
            samples = getattr(self.router.handle, "samples_first", False)
            trace["picks"] = [
                {"expert": ref.name, "id": _id_text(ref.id),
                 # The probability the policy had of making this first pick (1.0 for a
                 # deterministic gate); later picks follow from it, so they carry none.
                 "propensity": (_round6(self.scores.prob(ref.id)) if samples else 1.0) if rank == 0 else None}
                for rank, ref in enumerate(self.picks)]
        if self.fanout is not None:
            trace["calls"] = [_call_jsonable(o) for o in self.fanout.outcomes]
        if self.aggregated is not None:
            meta = self.aggregated.mix_info
            trace["mix"] = {
                "aggregator": meta.aggregator,
                "entropy": _round6(meta.entropy),
                "topk": meta.topk,
                "lat_total_ms": _round3(meta.lat_total_ms),
                "drop_count": meta.drop_count,
                "cost_units": meta.cost_units,
                "disagreement": None if meta.disagreement is None else _round6(meta.disagreement),
                "util_by_expert": {label(eid): _round6(p) for eid, p in meta.util_by_expert},
                "failures": dict(meta.failures),
                "weights": {label(eid): _round6(w) for eid, w in self.aggregated.weights},
            }
        return trace


def _call_jsonable(o: CallOutcome) -> dict[str, Any]:
    out = o.out
    return {
        "expert": o.expert.name,
        "id": _id_text(o.expert.id),
        "status": o.status.value,
        "latency_ms": _round3(o.latency_ms),
        "cost_units": out.aux.cost_units if out else None,
        "confidence": out.aux.confidence if out else None,
        "value": out.value.to_jsonable() if out else None,
        "cause": o.cause or None,
    }


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
