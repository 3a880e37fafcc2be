from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

import attrs


@attrs.frozen
class ExprNode:
    """A node of a parsed math expression: plain data, turned into sympy objects only in a worker.

    Kinds: ``num`` (`value`: Fraction), ``sym`` / ``const`` (`value`: the name), ``add`` (`args`:
    terms), ``mul`` (`args`: factors), ``neg`` / ``inv`` (one arg: -a, 1/a), ``pow`` (base,
    exponent) and ``call`` (`value`: function name, `args`: its arguments). Sums and products are
    flat, so a long sum never makes a deep tree.
    """

    kind: str
    value: Fraction | str | None = None
    args: tuple[ExprNode, ...] = ()
    pos: int = 0

    def walk(self) -> Iterator[ExprNode]:
        """This node and every node below it (iteratively: no recursion limit)."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.args))

    def symbols(self) -> frozenset[str]:
        """The names of the variables in the expression."""
        return frozenset(node.value for node in self.walk() if node.kind == "sym")  # type: ignore[misc]

    def to_text(self) -> str:
        """A fully parenthesised rendering, for tests and debugging."""
        if self.kind == "num":
            return str(self.value)
        if self.kind in ("sym", "const"):
            return str(self.value)
        if self.kind == "add":
            return "(" + " + ".join(arg.to_text() for arg in self.args) + ")"
        if self.kind == "mul":
            return "(" + " * ".join(arg.to_text() for arg in self.args) + ")"
        if self.kind == "neg":
            return "(-" + self.args[0].to_text() + ")"
        if self.kind == "inv":
            return "(1/" + self.args[0].to_text() + ")"
        if self.kind == "pow":
            return "(" + self.args[0].to_text() + " ** " + self.args[1].to_text() + ")"
        return f"{self.value}(" + ", ".join(arg.to_text() for arg in self.args) + ")"
