from .moe_error import MoeError


class ExpertFailed(MoeError):
    """One expert failed; `name` is the expert, `cause` a one-line description."""

    def __init__(self, name: str, cause: str) -> None:
        self.name = name
        self.cause = cause
        super().__init__(f"expert {name!r} failed: {cause}")
