from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ..aggregator.aggregated_out import AggregatedOut
    from ..aggregator.aggregator_trait import Aggregator
    from ..context import Context
    from ..experts.expert_out import ExpertOut
    from ..experts.expert_ref import ExpertRef
    from .fanout_result import FanoutResult
    from .gate_scores import GateScores
    from .router_feedback import RouterFeedback
    from .router_input import RouterInput


@runtime_checkable
class Router(Protocol):
    """Scores experts, calls the best ones in parallel, and combines their answers.

    The pipeline is ``gate`` → ``pick_topk`` → ``call_experts`` → ``aggregate``; the orchestrator
    drives it and never calls an expert itself.
    """

    id: str

    def gate(self, input: RouterInput, ctx: Context) -> GateScores:
        """Score every candidate expert for this input (probabilities, ranked best first)."""
        ...

    def pick_topk(self, scores: GateScores, k: int) -> list[ExpertRef]:
        """The k best candidates: bounded, never empty, deterministic; NoExpertSelected if none."""
        ...

    async def call_experts(self, input: RouterInput, picks: list[ExpertRef], ctx: Context) -> FanoutResult:
        """Call the picks in parallel under the context's deadline, budget and cancel token."""
        ...

    @property
    def aggregator(self) -> Aggregator: ...

    def aggregate(self, calls: list[tuple[ExpertRef, ExpertOut]], scores: GateScores) -> AggregatedOut:
        """Combine the successful calls, weighted by the gate."""
        ...

    def train_signal(self, fb: RouterFeedback) -> None:
        """Learn from feedback on a request this router served."""
        ...
