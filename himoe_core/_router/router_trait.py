from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .._context import Context
    from .._decision.decision import Decision
    from .._input import InputData
    from .router_feedback import RouterFeedback


@runtime_checkable
class Router(Protocol):
    """Decides which experts answer a request, calls them, and combines their answers — one
    unit: the engine calls `route` once per request and reads nothing else of the router.

    `BaseRouter` implements the whole protocol; a router kind usually subclasses it and only
    scores candidates (`logits`). A router written from scratch implements these members.
    """

    id: str
    """The name it has in config and traces."""

    kind: str
    """Its kind ("static", "logistic", …): saved learned state is only loaded into a router of
    the same kind."""

    model_version: int
    """The version of its learned state (the engine sets it when it loads or saves that state);
    recorded in every Decision."""

    async def route(self, x: InputData, ctx: Context, k: int | None = None) -> Decision:
        """Answer `x`: decide, call the chosen experts under `ctx`'s deadline, cost budget and
        cancel token, and combine their outputs. Return by the deadline (the engine cuts a
        router that is not a BaseRouter 5 ms after it). A failure is returned as the Decision's `error`
        (a MoeError), with whatever was decided before it; `k` overrides how many experts to call."""
        ...

    def decide(self, x: InputData, ctx: Context, k: int | None = None) -> Decision:
        """Gate and pick without calling any expert (scores, picks and propensity only): for
        clients that call the models themselves, and for off-policy evaluation. Raises MoeError."""
        ...

    def learn(self, decision: Decision, feedback: RouterFeedback) -> None:
        """Learn from feedback on one of its own decisions. Must not raise for a decision whose
        experts it no longer has; rejects non-finite updates without changing its state."""
        ...

    def state_dict(self) -> dict[str, Any] | None:
        """Its learned state as plain numbers, strings and numpy arrays (saved without pickle),
        or None when it learns nothing."""
        ...

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore what `state_dict` returned."""
        ...
