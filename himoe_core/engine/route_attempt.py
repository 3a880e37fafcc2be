from __future__ import annotations

from typing import Any

import attrs

from ..aggregator.aggregated_out import AggregatedOut
from ..experts.expert_ref import ExpertRef
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
        trace: dict[str, Any] = {"router": self.router.id, "status": "ok" if self.ok else "failed"}
        if self.error is not None:
            trace["error"] = f"{type(self.error).__name__}: {self.error}"
        if self.scores is not None:
            trace["gate"] = [
                {"expert": names.get(eid, str(eid)), "id": str(eid), "logit": round(logit, 6), "prob": round(prob, 6)}
                for eid, logit, prob in zip(self.scores.ids, self.scores.logits, self.scores.probs)
            ]
            trace["picks"] = [{"expert": ref.name, "id": str(ref.id), "propensity": round(self.scores.prob(ref.id), 6)}
                              for ref in self.picks]
        if self.fanout is not None:
            trace["calls"] = [
                {
                    "expert": o.expert.name,
                    "id": str(o.expert.id),
                    "status": o.status.value,
                    "latency_ms": round(o.latency_ms, 3),
                    "cost_units": o.out.aux.cost_units if o.out else None,
                    "confidence": o.out.aux.confidence if o.out else None,
                    "value": o.out.value.to_jsonable() if o.out else None,
                    "cause": o.cause or None,
                }
                for o in self.fanout.outcomes
            ]
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
                "util_by_expert": {names.get(eid, str(eid)): round(p, 6) for eid, p in meta.util_by_expert},
                "failures": dict(meta.failures),
                "weights": {names.get(eid, str(eid)): round(w, 6) for eid, w in self.aggregated.weights},
            }
        return trace
