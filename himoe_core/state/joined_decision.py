from __future__ import annotations

import attrs


@attrs.frozen
class JoinedDecision:
    """A logged decision joined (in SQL) with the feedback that came within its reward window.

    `reward` is that feedback's reward; else, once the window has passed, the configured
    default reward (`defaulted` is then True). `position` orders the log: the order a learner
    consumes it in, and where it resumes (`StateStore.joined_decisions(after=...)`).
    """

    position: int
    event_id: str | None
    trace_id: str
    router: str
    record: str
    replica: str | None
    model_version: int
    created: float
    reward: float
    defaulted: bool
