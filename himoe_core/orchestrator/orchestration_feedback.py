from __future__ import annotations

import attrs


@attrs.frozen
class OrchestrationFeedback:
    """What the orchestrator learned from a request: which router served it, and whether a
    shadow router would have done better (offline credit assignment)."""

    trace_id: str
    primary_router: str
    shadow_better: str | None = None
    notes: str | None = None
