"""Turning parsed ExprNode trees into sympy objects: constructors only, never a string to sympy."""

from __future__ import annotations

import threading
from fractions import Fraction
from types import ModuleType
from typing import Any

from ..parsing.expr_node import ExprNode

_LOCK = threading.Lock()
_SYMPY: ModuleType | None = None


def load_sympy() -> ModuleType:
    """sympy, imported once on first use (thread-safe); nothing imports it at module import."""
    global _SYMPY
    if _SYMPY is None:
        with _LOCK:
            if _SYMPY is None:
                import sympy

                _SYMPY = sympy
    return _SYMPY


def to_sympy(node: ExprNode) -> Any:
    """The sympy expression for `node`, built with sympy's constructors (Symbol, Rational, Add…)."""
    sp = load_sympy()
    kind, value = node.kind, node.value  # the value's type follows the kind (see ExprNode)
    if kind == "num":
        assert isinstance(value, Fraction)
        if value.denominator == 1:
            return sp.Integer(value.numerator)
        return sp.Rational(value.numerator, value.denominator)
    if kind == "sym":
        assert isinstance(value, str)
        return sp.Symbol(value)
    if kind == "const":
        assert isinstance(value, str)
        return {"pi": sp.pi, "E": sp.E, "I": sp.I, "oo": sp.oo}[value]
    args = [to_sympy(arg) for arg in node.args]
    if kind == "add":
        return sp.Add(*args)
    if kind == "mul":
        return sp.Mul(*args)
    if kind == "neg":
        return sp.Mul(sp.Integer(-1), args[0])
    if kind == "inv":
        return sp.Pow(args[0], sp.Integer(-1))
    if kind == "pow":
        return sp.Pow(args[0], args[1])
    if kind == "call":
        assert isinstance(value, str)
        return _function(sp, value)(*args)
    raise ValueError(f"unknown expression node kind {kind!r}")


def _function(sp: ModuleType, name: str) -> Any:
    return {
        "sin": sp.sin,
        "cos": sp.cos,
        "tan": sp.tan,
        "asin": sp.asin,
        "acos": sp.acos,
        "atan": sp.atan,
        "sinh": sp.sinh,
        "cosh": sp.cosh,
        "tanh": sp.tanh,
        "exp": sp.exp,
        "log": sp.log,
        "ln": sp.log,
        "sqrt": sp.sqrt,
        "abs": sp.Abs,
        "factorial": sp.factorial,
    }[name]
