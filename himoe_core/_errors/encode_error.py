from .moe_error import MoeError


class EncodeError(MoeError):
    """An encoder could not turn the input into the vector a router gates on."""

    def __init__(self, message: str) -> None:
        super().__init__(f"encode error: {message}")
