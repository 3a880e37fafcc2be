from __future__ import annotations

from typing import Any

from himoe_core import (
    BudgetExceeded,
    Cancelled,
    DeadlineExceeded,
    InvalidInput,
    MoeError,
    NoExpertSelected,
    StateError,
)

# The one store fault the feedback itself caused (its values made a router's parameters non-finite).
_FEEDBACK_FAULTS = ("learned non-finite parameters",)


class ApiError(Exception):
    """An HTTP error in OpenAI's shape: ``{"error": {"message", "type", "code"}}`` with a status."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.headers = headers

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "code": self.code, "param": None}}

    @classmethod
    def of(cls, exc: MoeError) -> ApiError:
        """The status a himoe error stands for: the caller's input (400), nobody able to answer
        (422), the budget (422) or the deadline (504)."""
        if isinstance(exc, InvalidInput):
            return cls(400, str(exc), code="invalid_input")
        if isinstance(exc, DeadlineExceeded):
            return cls(
                504,
                f"deadline exceeded: no usable answer within the {exc.budget_ms:g} ms budget; raise "
                "himoe.budget_ms or use faster experts (the server's log has each expert's outcome)",
                type="timeout_error",
                code="deadline_exceeded",
            )
        if isinstance(exc, BudgetExceeded):
            return cls(422, str(exc), code="budget_exceeded")
        if isinstance(exc, NoExpertSelected):
            return cls(422, _without_error_texts(exc), code="no_expert")
        if isinstance(exc, Cancelled):
            return cls(499, str(exc) or "the request was cancelled", type="cancelled", code="cancelled")
        return cls(422, str(exc), code=type(exc).__name__)

    @classmethod
    def of_store_fault(cls, exc: StateError) -> ApiError:
        """The status of a state store fault met while recording feedback: 503 with Retry-After
        for one that passes by itself, 400 for feedback the router could not learn from, and
        500 for the server's own store being unusable (read-only, full, damaged), which no
        retry of the client mends. A 5xx does not carry the store's message, which names the
        server's file or database: the caller logs it."""
        message = str(exc)
        if exc.transient:
            return cls(
                503,
                "the server's state store is unavailable for now, so nothing was kept; "
                "send the same feedback again shortly",
                type="server_error",
                code="state_store_unavailable",
                headers=(("retry-after", "1"),),
            )
        if any(words in message for words in _FEEDBACK_FAULTS):
            return cls(400, message, code="invalid_feedback")
        return cls(
            500,
            "the server's state store cannot record feedback; its operator has to fix the store "
            "(the server's log says what, under this trace id)",
            type="server_error",
            code="state_store_failed",
        )


def _without_error_texts(exc: NoExpertSelected) -> str:
    """What a client is told when every expert picked failed: each expert's status (`failed`,
    `timed_out`, …), not its error, whose text may hold an upstream's address or internals; the
    server logs the whole message."""
    if not exc.failures:
        return str(exc)
    statuses = ", ".join(f"{name}: {cause.split(':', 1)[0]}" for name, cause in exc.failures.items())
    return f"no expert selected: {exc.reason} [{statuses}]; the server's log has each error"
