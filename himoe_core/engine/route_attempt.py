from __future__ import annotations

from typing import Any

import attrs

from ..aggregator.aggregated_out import AggregatedOut
from ..experts.expert_ref import ExpertRef
from ..router.fanout_result import FanoutResult
from ..router.gate_scores import GateScores
from ..router.router_ref import RouterRef
from .trace_atoms import attempt_atoms, render_attempt


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
        """This attempt's entry in the trace (`trace["attempts"][i]`)."""
        return render_attempt(iter(attempt_atoms(self)))
