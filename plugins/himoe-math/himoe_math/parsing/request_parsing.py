"""Reading a math request: ``math: <operation> <expression> [clauses]`` into a MathRequest.

Only the operation words and the clause keywords (``for``, ``wrt``, ``with respect to``,
``from … to …``, ``dx``) are read here; every expression goes through ExpressionParser.
"""

from __future__ import annotations

import re

from .expression_error import ExpressionError
from .expression_parser import ExpressionParser
from .math_request import MathRequest
from .vocabulary import MAX_INPUT_CHARS

OPERATION_WORDS = {
    "solve": "solve",
    "simplify": "simplify",
    "factor": "factor",
    "factorise": "factor",
    "factorize": "factor",
    "expand": "expand",
    "diff": "diff",
    "differentiate": "diff",
    "derivative": "diff",
    "integrate": "integrate",
    "integral": "integrate",
    "evaluate": "evaluate",
    "calculate": "evaluate",
    "compute": "evaluate",
}

_PREFIX = re.compile(r"\s*math(?:\s*:\s*|\s+|$)", re.IGNORECASE)
_OPERATION = re.compile(r"(?P<word>[A-Za-z]+)(?:\s+of)?(?:\s*:\s*|\s+|$|(?=\())", re.IGNORECASE)
_D_DX = re.compile(r"d\s*/\s*d(?P<var>[A-Za-z](?:_?[0-9]{1,3})?)(?![A-Za-z0-9_])\s*:?\s*")
_FOR = re.compile(r"(?P<rest>.*?)\s+for\s+(?P<vars>\S.*)", re.IGNORECASE | re.DOTALL)
_WRT = re.compile(
    r"(?P<rest>.*?)\s*(?:\bwrt\b|\bw\.r\.t\.?|\bwith\s+respect\s+to\b)\s*(?P<vars>\S.*)", re.IGNORECASE | re.DOTALL
)
_BOUNDS = re.compile(r"(?P<rest>.*?)\s+from\s+(?P<lo>\S.*?)\s+to\s+(?P<hi>\S.*)", re.IGNORECASE | re.DOTALL)
_DVAR = re.compile(r"(?P<rest>.*?)(?:\s+|\*\s*|(?<=\)))d(?P<var>[A-Za-z](?:_?[0-9]{1,3})?)\s*", re.DOTALL)
_AND = re.compile(r"\s+and\s+", re.IGNORECASE)


def is_math_task(task: str) -> bool:
    """True for a task hint or text that starts with ``math:`` or ``math `` (any case), or is ``math``."""
    return _PREFIX.match(task) is not None


def strip_math_prefix(text: str) -> str:
    """`text` without its leading ``math:`` / ``math `` (if any), stripped."""
    match = _PREFIX.match(text)
    return (text[match.end() :] if match else text).strip()


def parse_request(text: str, task: str | None = None) -> MathRequest:
    """Parse a request such as ``math: solve x**2 - 4 = 0``; ExpressionError says what is wrong.

    The operation is the first word (``solve``, ``simplify``, ``factor``, ``expand``, ``diff`` /
    ``differentiate`` / ``d/dx``, ``integrate``, ``evaluate``…); failing that, the one named by a
    task hint like ``math:solve``; failing that, ``solve`` for an equation, ``evaluate`` for an
    expression without variables and ``simplify`` for one with variables.
    """
    if not isinstance(text, str):
        raise ExpressionError(f"a math request must be text, got {type(text).__name__}")
    if len(text) > MAX_INPUT_CHARS:
        raise ExpressionError(
            f"input has {len(text)} characters, more than the limit of {MAX_INPUT_CHARS} for a math request; shorten it"
        )
    body = strip_math_prefix(text)
    operation, body, variables = _operation(body)
    if operation is None and task is not None:
        operation = OPERATION_WORDS.get(strip_math_prefix(task).rstrip(":").strip().lower())
    if not body:
        raise ExpressionError(
            "nothing to compute: give an expression after the operation, e.g. "
            "'math: solve x**2 - 4 = 0' or 'math: factor x**2 - 5*x + 6'"
        )
    if operation is None:
        if "=" in body:
            return _solve(body, explicit=False)
        expression = ExpressionParser(body).parse_expression()
        inferred = "simplify" if expression.symbols() else "evaluate"
        return MathRequest(inferred, body, expression=expression, explicit=False)
    if operation == "solve":
        return _solve(body)
    if operation == "diff":
        return _diff(body, variables)
    if operation == "integrate":
        return _integrate(body)
    return MathRequest(operation, body, expression=ExpressionParser(body).parse_expression())


def _operation(body: str) -> tuple[str | None, str, tuple[str, ...]]:
    """The operation named at the start of `body`, the rest, and a d/dx variable."""
    match = _D_DX.match(body)
    if match:
        return "diff", body[match.end() :].strip(), (match.group("var"),)
    match = _OPERATION.match(body)
    if match:
        operation = OPERATION_WORDS.get(match.group("word").lower())
        if operation is not None:
            return operation, body[match.end() :].strip(), ()
    return None, body, ()


def _solve(body: str, explicit: bool = True) -> MathRequest:
    variables: tuple[str, ...] = ()
    rest = body
    match = _FOR.fullmatch(body)
    if match:
        rest, variables = match.group("rest"), _symbols(match.group("vars"), match.start("vars"))
    equations = ExpressionParser(rest).parse_equations()
    return MathRequest("solve", body, equations=equations, variables=variables, explicit=explicit)


def _diff(body: str, variables: tuple[str, ...]) -> MathRequest:
    rest = body
    match = _WRT.fullmatch(body)
    if match:
        if variables:
            raise ExpressionError("give the variable once: either d/dx … or … wrt x, not both")
        rest, variables = match.group("rest"), _symbols(match.group("vars"), match.start("vars"))
    return MathRequest("diff", body, expression=ExpressionParser(rest).parse_expression(), variables=variables)


def _integrate(body: str) -> MathRequest:
    variables: tuple[str, ...] = ()
    rest, bounds = body, None
    match = _BOUNDS.fullmatch(rest)
    if match:
        rest = match.group("rest")
        bounds = (
            ExpressionParser(match.group("lo"), match.start("lo")).parse_expression(),
            ExpressionParser(match.group("hi"), match.start("hi")).parse_expression(),
        )
    match = _WRT.fullmatch(rest)
    if match:
        rest, variables = match.group("rest"), _symbols(match.group("vars"), match.start("vars"))
    match = _DVAR.fullmatch(rest)
    if match:
        if variables and variables != (match.group("var"),):
            raise ExpressionError(
                f"d{match.group('var')} and 'wrt {', '.join(variables)}' name different "
                "variables; give the variable once"
            )
        rest, variables = match.group("rest"), (match.group("var"),)
    if bounds is not None and len(variables) > 1:
        raise ExpressionError("a definite integral takes one variable; give 'wrt x' or 'dx' once")
    expression = ExpressionParser(rest).parse_expression()
    return MathRequest("integrate", body, expression=expression, variables=variables, bounds=bounds)


def _symbols(text: str, offset: int) -> tuple[str, ...]:
    return ExpressionParser(_AND.sub(", ", text), offset).parse_symbols()
