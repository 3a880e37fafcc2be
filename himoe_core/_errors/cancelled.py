from .moe_error import MoeError


class Cancelled(MoeError):
    """The request's CancelToken was cancelled before an answer was ready."""

    def __init__(self, reason: str = "") -> None:
        self.reason = reason
        super().__init__("request cancelled" + (f": {reason}" if reason else ""))
