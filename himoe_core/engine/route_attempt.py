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
                {"expert": label(eid), "id": _id_text(eid), "logit": round(logit, 6), "prob": round(prob, 6)}
                for eid, logit, prob in zip(self.scores.ids, self.scores.logits, self.scores.probs)
            ]
            samples = getattr(self.router.handle, "samples_first", False)
            trace["picks"] = [
                {"expert": ref.name, "id": _id_text(ref.id),
                 # The probability the policy had of making this first pick (1.0 for a
                 # deterministic gate); later picks follow from it, so they carry none.
                 "propensity": (round(self.scores.prob(ref.id), 6) if samples else 1.0) if rank == 0 else None}
                for rank, ref in enumerate(self.picks)]
        if self.fanout is not None:
            trace["calls"] = [_call_jsonable(o) for o in self.fanout.outcomes]
        if self.aggregated is not None:
            meta = self.aggregated.mix_info
            trace["mix"] = {
                "aggregator": meta.aggregator,
                "entropy": round(meta.entropy, 6),
                "topk": meta.topk,
                "lat_total_ms": round(meta.lat_total_ms, 3),
                "drop_count": meta.drop_count,
                "cost_units": meta.cost_units,
                "disagreement": None if meta.disagreement is None else round(meta.disagreement, 6),
                "util_by_expert": {label(eid): round(p, 6) for eid, p in meta.util_by_expert},
                "failures": dict(meta.failures),
                "weights": {label(eid): round(w, 6) for eid, w in self.aggregated.weights},
            }
        return trace


def _call_jsonable(o: CallOutcome) -> dict[str, Any]:
    out = o.out
    return {
        "expert": o.expert.name,
        "id": _id_text(o.expert.id),
        "status": o.status.value,
        "latency_ms": round(o.latency_ms, 3),
        "cost_units": out.aux.cost_units if out else None,
        "confidence": out.aux.confidence if out else None,
        "value": out.value.to_jsonable() if out else None,
        "cause": o.cause or None,
    }


@functools.lru_cache(maxsize=4096, typed=True)
def _id_text(eid: Any) -> str:
    """`str(eid)` (16 hex digits for an ExpertId), cached: traces print the same few ids on every
    request. `typed` keeps an ExpertId apart from the plain int equal to it."""
    return str(eid)
