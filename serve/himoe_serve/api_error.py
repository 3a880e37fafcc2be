from __future__ import annotations

from typing import Any

from himoe_core import BudgetExceeded, Cancelled, DeadlineExceeded, InvalidInput, MoeError, NoExpertSelected


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
            return cls(504, str(exc), type="timeout_error", code="deadline_exceeded")
        if isinstance(exc, BudgetExceeded):
            return cls(422, str(exc), code="budget_exceeded")
        if isinstance(exc, NoExpertSelected):
            return cls(422, str(exc), code="no_expert")
        if isinstance(exc, Cancelled):
            return cls(499, str(exc) or "the request was cancelled", type="cancelled", code="cancelled")
        return cls(422, str(exc), code=type(exc).__name__)
