from .moe_error import MoeError


class BudgetExceeded(MoeError):
    """The cost budget cannot pay for even the cheapest eligible expert."""

    def __init__(self, budget_units: float, cheapest_units: float) -> None:
        self.budget_units = budget_units
        self.cheapest_units = cheapest_units
        super().__init__(
            f"budget exceeded: {budget_units:g} cost units left, the cheapest eligible expert "
            f"costs about {cheapest_units:g}; raise cost_budget or allow cheaper experts"
        )
