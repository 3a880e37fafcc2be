from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .._context import Context
    from .._decision.decision import Decision
    from .._input import InputData
    from .._router.router_ref import RouterRef
    from .._value import Value
    from .orchestration_feedback import OrchestrationFeedback


@runtime_checkable
class Orchestrator(Protocol):
    """Chooses the router for a request and synthesises the final answer; never calls an expert.

    ``choose_router`` picks the primary router; ``fallbacks`` lists the routers to re-route to,
    in order, when the primary yields nothing usable in time (one deadline for the whole chain).
    """

    def choose_router(self, x: InputData, ctx: Context) -> RouterRef:
        """The primary router for this request."""
        ...

    def fallbacks(self, x: InputData, ctx: Context, primary: RouterRef) -> list[RouterRef]:
        """Routers to try, in order, when the primary yields nothing usable."""
        ...

    def shadows(self, x: InputData, ctx: Context, primary: RouterRef) -> list[RouterRef]:
        """Routers to run in shadow for this input (their answers never reach the caller)."""
        ...

    def synthesize(self, served: Decision) -> Value:
        """The final Value from the serving router's decision (`served.value` is its answer).
        Shadow answers arrive after the response has left, so they never take part."""
        ...

    def feedback(self, fb: OrchestrationFeedback) -> None:
        """Learn from which router served and whether a shadow did better."""
        ...
