"""The math operations, computed with sympy on trees from the restricted parser.

`compute` runs inside a worker process (see SympyWorkerPool): it re-parses the request text
with the same restricted parser, so no sympy object, pickled expression or string for sympy
ever crosses the process boundary — only the user's text goes in and plain JSON comes out.
"""

from __future__ import annotations

import math
from typing import Any

from ..parsing.expression_error import ExpressionError
from ..parsing.math_request import MathRequest
from ..parsing.request_parsing import parse_request
from .sympy_building import load_sympy, to_sympy

DEFAULT_MAX_RESULT_CHARS = 100_000

_HOW_TO_NAME = {
    "solve": "solve ... for {v}",
    "diff": "differentiate ... wrt {v}",
    "integrate": "integrate ... d{v}",
}


def compute(text: str, task: str | None = None, *, max_result_chars: int = DEFAULT_MAX_RESULT_CHARS) -> dict[str, Any]:
    """The JSON-ready answer to one request: operation, input, result, latex, numeric, exact…

    ExpressionError for requests that cannot be computed (bad syntax, ambiguous variables,
    results beyond `max_result_chars`); sympy's own errors propagate.
    """
    request = parse_request(text, task)
    sp = load_sympy()
    handler = {
        "solve": _solve,
        "simplify": lambda sp, r: (sp.simplify(_expr(r)), {}),
        "factor": _factor,
        "expand": lambda sp, r: (sp.expand(_expr(r)), {}),
        "diff": _diff,
        "integrate": _integrate,
        "evaluate": _evaluate,
    }[request.operation]
    result, extra = handler(sp, request)
    text_form = extra.pop("_text", None)
    latex_form = extra.pop("_latex", None)
    result_text = text_form if text_form is not None else sp.sstr(result)
    if len(result_text) > max_result_chars:
        raise ExpressionError(
            f"result too large: {len(result_text):,} characters, more than the limit of {max_result_chars:,}; "
            "ask for a smaller computation"
        )
    latex = latex_form if latex_form is not None else sp.latex(result)
    out: dict[str, Any] = {
        "operation": request.operation,
        "input": request.source,
        "result": result_text,
        "latex": latex if len(latex) <= max_result_chars else None,
        "numeric": None if extra.get("solutions") is not None else _numeric(sp, result),
        "exact": not _unevaluated(sp, result),
    }
    out.update(extra)
    return out


def _expr(request: MathRequest) -> Any:
    return to_sympy(request.expression)  # type: ignore[arg-type]


def _variables(sp: Any, request: MathRequest, expressions: list[Any], default: str | None = "x") -> list[Any]:
    if request.variables:
        return [sp.Symbol(name) for name in request.variables]
    names = sorted({symbol.name for expr in expressions for symbol in expr.free_symbols})
    if len(names) == 1 or (len(names) > 1 and request.operation == "solve" and len(expressions) > 1):
        return [sp.Symbol(name) for name in names]
    if not names and default is not None:
        return [sp.Symbol(default)]
    if not names:
        raise ExpressionError("nothing to solve: the equation has no variables")
    how = _HOW_TO_NAME[request.operation].format(v=names[0])
    raise ExpressionError(f"the expression has several variables ({', '.join(names)}); say which one, e.g. '{how}'")


def _solve(sp: Any, request: MathRequest) -> tuple[Any, dict]:
    expressions = [to_sympy(lhs) - (to_sympy(rhs) if rhs is not None else 0) for lhs, rhs in request.equations]
    if all(expr == 0 for expr in expressions):
        raise ExpressionError("the equation holds for every value of its variables: both sides are equal")
    unknowns = _variables(sp, request, expressions, default=None)
    names = [symbol.name for symbol in unknowns]
    if len(expressions) == 1 and len(unknowns) == 1:
        unknown = unknowns[0]
        found = [s[unknown] for s in sp.solve(expressions[0], unknown, dict=True) if unknown in s]
        found = sorted(set(found), key=lambda value: _solution_key(sp, value))
        solutions = [sp.sstr(value) for value in found]
        return found, {
            "solutions": solutions,
            "variables": names,
            "_text": "[" + ", ".join(solutions) + "]",
            "_latex": sp.latex(found),
        }
    found = sp.solve(expressions, unknowns, dict=True)
    rendered = sorted(
        "{" + ", ".join(f"{symbol}: {sp.sstr(s[symbol])}" for symbol in unknowns if symbol in s) + "}" for s in found
    )
    return found, {
        "solutions": rendered,
        "variables": names,
        "_text": "[" + ", ".join(rendered) + "]",
        "_latex": sp.latex(found),
    }


def _solution_key(sp: Any, value: Any) -> tuple:
    """Real numbers first, by value; then the rest by their text."""
    if value.is_number and value.is_extended_real:
        try:
            return 0, float(value), sp.sstr(value)
        except (TypeError, ValueError, OverflowError):
            pass
    return 1, 0.0, sp.sstr(value)


def _factor(sp: Any, request: MathRequest) -> tuple[Any, dict]:
    expr = _expr(request)
    if expr.is_Integer and abs(expr) > 1:
        factors = sp.factorint(int(expr))
        sign = "-" if factors.pop(-1, 0) else ""
        primes = sorted(factors.items())
        text = sign + "*".join(f"{p}**{e}" if e > 1 else str(p) for p, e in primes)
        latex = sign + r" \cdot ".join(f"{p}^{{{e}}}" if e > 1 else str(p) for p, e in primes)
        return expr, {"_text": text, "_latex": latex, "factors": {str(p): e for p, e in primes}}
    return sp.factor(expr), {}


def _diff(sp: Any, request: MathRequest) -> tuple[Any, dict]:
    expr = _expr(request)
    variables = _variables(sp, request, [expr])
    return sp.diff(expr, *variables), {"variables": [v.name for v in variables]}


def _integrate(sp: Any, request: MathRequest) -> tuple[Any, dict]:
    expr = _expr(request)
    variables = _variables(sp, request, [expr])
    if request.bounds is None:
        return sp.integrate(expr, *variables), {"variables": [v.name for v in variables]}
    low, high = (to_sympy(bound) for bound in request.bounds)
    result = sp.integrate(expr, (variables[0], low, high))
    return result, {"variables": [variables[0].name], "bounds": [sp.sstr(low), sp.sstr(high)]}


def _evaluate(sp: Any, request: MathRequest) -> tuple[Any, dict]:
    expr = _expr(request)
    if expr.is_Rational or expr.has(sp.oo, -sp.oo, sp.zoo, sp.nan):
        return expr, {}
    return sp.simplify(expr), {}


def _unevaluated(sp: Any, result: Any) -> bool:
    """True when sympy gave back an integral or derivative it could not compute."""
    items = result if isinstance(result, list) else [result]
    for item in items:
        values = item.values() if isinstance(item, dict) else [item]
        if any(getattr(v, "has", None) and v.has(sp.Integral, sp.Derivative) for v in values):
            return True
    return False


def _numeric(sp: Any, value: Any) -> float | None:
    """A float for a finite real number, else None."""
    if not getattr(value, "is_number", False) or value.has(sp.oo, -sp.oo, sp.zoo, sp.nan):
        return None
    try:
        approx = value.evalf(17, chop=True)
        if not approx.is_Number:
            return None
        number = float(approx)
    except (TypeError, ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None
