from .moe_error import MoeError


class DeadlineExceeded(MoeError):
    """The request's deadline passed before a usable answer was ready."""

    def __init__(self, budget_ms: float, detail: str = "") -> None:
        self.budget_ms = budget_ms
        message = f"deadline exceeded: no usable answer within the {budget_ms:g} ms budget"
        if detail:
            message += f" ({detail})"
        super().__init__(message + "; raise budget_ms or use faster experts")
