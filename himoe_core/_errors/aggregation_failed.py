from .moe_error import MoeError


class AggregationFailed(MoeError):
    """The aggregator could not combine the experts' outputs."""

    def __init__(self, message: str) -> None:
        super().__init__(f"aggregation failed: {message}")
