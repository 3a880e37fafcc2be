from __future__ import annotations

from collections.abc import Iterable

import attrs


def _names(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(items)  # a named converter types the __init__ parameter for mypy's attrs plugin


@attrs.frozen
class OrchestrationFeedback:
    """What the orchestrator learned from a request: which router served it, and whether a
    shadow router would have done better (offline credit assignment).

    `scored` lists the shadow routers whose answers were scored against the primary's by real
    feedback; only those comparisons count as evidence for promoting a shadow. Without it,
    `shadow_better` is a label-free hint (the surer router), kept for monitoring only.
    """

    trace_id: str
    primary_router: str
    shadow_better: str | None = None
    notes: str | None = None
    scored: tuple[str, ...] = attrs.field(default=(), converter=_names)
