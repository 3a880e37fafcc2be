from __future__ import annotations

import attrs

from .expr_node import ExprNode

OPERATIONS = ("solve", "simplify", "factor", "expand", "diff", "integrate", "evaluate")


@attrs.frozen
class MathRequest:
    """A parsed, validated math request: the operation and its expression trees (plain data).

    `expression` is set for every operation but ``solve``, which has `equations` (pairs
    ``(lhs, rhs)``; ``rhs`` None means ``= 0``). `variables` are the names given with ``for`` /
    ``wrt`` / ``d/dx`` / ``dx`` (empty: chosen from the expression), `bounds` the limits of a
    definite integral. `source` is the text after the operation word, as the user wrote it.
    """

    operation: str = attrs.field(validator=attrs.validators.in_(OPERATIONS))
    source: str
    expression: ExprNode | None = None
    equations: tuple[tuple[ExprNode, ExprNode | None], ...] = ()
    variables: tuple[str, ...] = ()
    bounds: tuple[ExprNode, ExprNode] | None = None
    explicit: bool = True  # False when no operation word was given and it was inferred

    def symbols(self) -> frozenset[str]:
        """Every variable name the expressions use."""
        nodes = [self.expression] if self.expression is not None else []
        for lhs, rhs in self.equations:
            nodes.append(lhs)
            if rhs is not None:
                nodes.append(rhs)
        names: frozenset[str] = frozenset()
        for node in nodes:
            names |= node.symbols()
        return names
