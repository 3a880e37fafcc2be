from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .._experts.expert_out import ExpertOut
    from .._experts.expert_ref import ExpertRef
    from .._router.gate_scores import GateScores
    from .aggregated_out import AggregatedOut


@runtime_checkable
class Aggregator(Protocol):
    """Combines the successful outputs of one fan-out into one answer, weighted by the gate.

    ``id`` names it in config. ``combine`` only ever sees successful calls; it raises
    NoExpertSelected when given none and AggregationFailed when the outputs cannot be combined.
    """

    id: str

    def combine(self, calls: list[tuple[ExpertRef, ExpertOut]], scores: GateScores) -> AggregatedOut:
        """Combine the successful calls into one AggregatedOut, weighted by `scores`."""
        ...
