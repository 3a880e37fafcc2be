from __future__ import annotations

from typing import Any

import attrs

from .._aggregator.mix_meta import MixMeta
from .._decision.decision import Decision
from .._value import Value
from .trace_record import TraceRecord


@attrs.frozen
class Response:
    """The answer to one request: the synthesised value, which router served it, the mixture
    telemetry, the full JSON-ready trace (also kept in `HiMoE.traces` under `trace_id`) and the
    serving router's Decision."""

    value: Value
    trace_id: str
    router: str
    mix: MixMeta
    elapsed_ms: float
    _trace: TraceRecord = attrs.field(repr=False, eq=False, alias="trace")
    decision: Decision | None = attrs.field(default=None, repr=False, eq=False)
    """The serving router's decision: candidates, propensities, picks, each call's outcome."""

    @property
    def trace(self) -> dict[str, Any]:
        """The request's trace: gate, picks, calls, aggregation, shadows (rendered on first read
        and shared with `moe.traces`; once the trace store has released it, 256 requests later,
        each read returns a fresh dict)."""
        return self._trace.data()

    def to_jsonable(self) -> dict[str, Any]:
        """What `himoe run --json` prints: trace id, router, elapsed, value, trace."""
        return {
            "trace_id": self.trace_id,
            "router": self.router,
            "elapsed_ms": round(self.elapsed_ms, 3),
            "value": self.value.to_jsonable(),
            "trace": self.trace,
        }
