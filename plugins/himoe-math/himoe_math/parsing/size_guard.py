"""Refusing expressions whose exact numbers would explode, before anything computes them.

sympy evaluates constant powers exactly as soon as it builds them (``9**9**9`` is a 370-million
digit integer), so the parser's output is measured first. For each constant sub-expression the
guard tracks an upper bound on the size of the exact numbers sympy would build (``bits``), an
upper bound on log2 of its magnitude (``mag``, what matters when it is used as an exponent) and,
when small, its exact value. This is a fast, conservative first line; the worker process killed at
the deadline is the guarantee for whatever gets through.
"""

from __future__ import annotations

import math
from fractions import Fraction

from .expr_node import ExprNode
from .expression_error import ExpressionError
from .vocabulary import MAX_EXPONENT, MAX_FACTORIAL, MAX_NUMBER_BITS

# A measure is None for an expression with variables, else (exact value or None, bits, mag).
Measure = tuple[Fraction | None, float, float] | None

_EXACT_BITS = 256  # exact values are tracked only while this small
_GROWING = {"exp", "sinh", "cosh"}
_PERIODIC = {"sin", "cos", "tan", "tanh"}
_INVERSE_TRIG = {"asin", "acos", "atan"}
_LOG2_E = math.log2(math.e)


def check_sizes(node: ExprNode) -> None:
    """Raise ExpressionError when `node` asks for numbers or powers beyond the limits."""
    _measure(node)


def _measure(node: ExprNode) -> Measure:
    kind = node.kind
    if kind == "num":
        value: Fraction = node.value  # type: ignore[assignment]
        return (
            value,
            value.numerator.bit_length() + value.denominator.bit_length(),
            float(abs(value.numerator).bit_length()),
        )
    if kind == "sym":
        return None
    if kind == "const":
        return None, 0.0, math.inf if node.value == "oo" else 2.0
    measures = [_measure(arg) for arg in node.args]  # every child is checked, symbolic or not
    if any(m is None for m in measures):
        if kind == "pow" and measures[1] is not None:
            _exponent_magnitude(node, measures[1])
        return None
    known = [m for m in measures if m is not None]  # all of them: none is symbolic here
    if kind == "neg":
        exact, bits, mag = known[0]
        return (None if exact is None else -exact), bits, mag
    if kind == "inv":
        exact, bits, mag = known[0]
        if exact is not None and exact != 0:
            return 1 / exact, bits, float(exact.denominator.bit_length())
        return None, bits, math.inf if exact == 0 else max(bits, 2.0)
    if kind == "add":
        exacts = [m[0] for m in known if m[0] is not None]
        bits = sum(m[1] for m in known) + len(known)
        mag = max(m[2] for m in known) + math.log2(len(known))
        exact = sum(exacts, Fraction(0)) if len(exacts) == len(known) and bits <= _EXACT_BITS else None
        return _checked(node, exact, bits, mag)
    if kind == "mul":
        exacts = [m[0] for m in known if m[0] is not None]
        bits = sum(m[1] for m in known)
        mag = sum(m[2] for m in known)
        exact = math.prod(exacts, start=Fraction(1)) if len(exacts) == len(known) and bits <= _EXACT_BITS else None
        return _checked(node, exact, bits, mag)
    if kind == "pow":
        return _power(node, known[0], known[1])
    return _call(node, known)


def _exponent_magnitude(node: ExprNode, exponent: tuple) -> float:
    exact, _, mag = exponent
    if exact is not None:
        if abs(exact) > MAX_EXPONENT:
            raise ExpressionError(
                f"exponent too large: the power at position {node.pos} has an exponent of {_short(exact)}, "
                f"beyond the limit of ±{MAX_EXPONENT}; results that size cannot be computed within a request"
            )
        return float(abs(exact))
    if mag > math.log2(MAX_EXPONENT):
        raise ExpressionError(
            f"exponent too large: the power at position {node.pos} has a constant exponent that may "
            f"exceed the limit of ±{MAX_EXPONENT}; use a smaller exponent"
        )
    return 2.0**mag


def _power(node: ExprNode, base: tuple, exponent: tuple) -> Measure:
    magnitude = _exponent_magnitude(node, exponent)
    b_exact, b_bits, b_mag = base
    times = max(1, math.ceil(magnitude))
    bits = max(b_bits, 1.0) * times
    mag = b_mag * magnitude if exponent[0] is None or exponent[0] >= 0 else max(b_bits, 2.0) * times
    exact = None
    e_exact = exponent[0]
    if b_exact is not None and e_exact is not None and e_exact.denominator == 1 and bits <= _EXACT_BITS:
        if b_exact != 0 or e_exact >= 0:
            exact = b_exact ** int(e_exact)
    return _checked(node, exact, bits, mag)


def _call(node: ExprNode, measures: list[tuple]) -> Measure:
    name = node.value
    bits = max(m[1] for m in measures)
    mag = max(m[2] for m in measures)
    if name == "factorial":
        exact, _, arg_mag = measures[0]
        if exact is not None:
            if exact > MAX_FACTORIAL:
                raise ExpressionError(
                    f"factorial argument too large: factorial({_short(exact)}) at position {node.pos} is "
                    f"beyond the limit of factorial({MAX_FACTORIAL})"
                )
            n = max(float(exact), 2.0)
        elif arg_mag > math.log2(MAX_FACTORIAL):
            raise ExpressionError(
                f"factorial argument too large: the argument of factorial at position {node.pos} may "
                f"exceed {MAX_FACTORIAL}"
            )
        else:
            n = float(MAX_FACTORIAL)
        size = n * math.log2(n) + 1
        return _checked(node, None, size, size)
    if name in _GROWING:
        grown = _LOG2_E * 2.0**mag if mag < 64 else math.inf
        return None, bits, max(grown, mag)
    # sympy undoes inverses — sin(asin(y)), exp(log(y)), log(exp(y)), sqrt(y**2) give y back — so a
    # function keeps its argument's magnitude when an inverse may be inside, and is bounded otherwise.
    inside = {n.value for arg in node.args for n in arg.walk() if n.kind in ("call", "const")}
    if name in _PERIODIC and not inside & _INVERSE_TRIG:
        return None, bits, 2.0
    if name in ("log", "ln") and not inside & {"exp", "sinh", "cosh", "E"}:
        return None, bits, math.log2(mag + 1.0) + 1.0
    return None, bits, max(2.0, mag)


def _checked(node: ExprNode, exact: Fraction | None, bits: float, mag: float) -> Measure:
    if bits > MAX_NUMBER_BITS:
        digits = int(bits * math.log10(2))
        raise ExpressionError(
            f"numbers too large: the expression at position {node.pos} would build exact numbers of about "
            f"{digits:,} digits, more than the limit of about {int(MAX_NUMBER_BITS * math.log10(2)):,}"
        )
    return exact, bits, mag


def _short(value: Fraction) -> str:
    text = str(value)
    return text if len(text) <= 24 else text[:10] + "…" + text[-6:] + f" ({len(text)} digits)"
