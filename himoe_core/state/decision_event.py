from __future__ import annotations

import attrs


@attrs.frozen
class DecisionEvent:
    """One answered decision as the state store logs it: appended once, never updated.

    `record` is the decision codec's text (himoe_core.routing.encode_decision); `event_id` is
    unique across replicas, `replica` names the process that decided, `model_version` the
    router state it decided with, and `created` (seconds since the epoch) when it decided —
    the start of its reward window.
    """

    event_id: str
    trace_id: str
    router: str
    record: str
    replica: str
    model_version: int
    created: float
