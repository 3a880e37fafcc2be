"""The restricted parser on its own: grammar, exact numbers, limits and error messages (no sympy)."""

from __future__ import annotations

import subprocess
import sys
from fractions import Fraction

import pytest
from himoe_math.parsing.expression_error import ExpressionError
from himoe_math.parsing.expression_parser import ExpressionParser
from himoe_math.parsing.request_parsing import is_math_task, parse_request
from himoe_math.parsing.tokenizer import tokenize


def shape(text: str) -> str:
    return ExpressionParser(text).parse_expression().to_text()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("-x**2", "(-(x ** 2))"),
        ("2**3**2", "(2 ** (3 ** 2))"),
        ("2^3^2", "(2 ** (3 ** 2))"),
        ("2**-x", "(2 ** (-x))"),
        ("a - b - c", "(a + (-b) + (-c))"),
        ("a / b * c", "(a * (1/b) * c)"),
        ("2x(x+1)", "(2 * x * (x + 1))"),
        ("(x+1)(x-1)", "((x + 1) * (x + (-1)))"),
        ("2 sin(x)", "(2 * sin(x))"),
        ("log(8, 2)", "log(8, 2)"),
        ("x1 + x_2 + theta", "(x1 + x_2 + theta)"),
        ("pi*E + I - oo", "((pi * E) + I + (-oo))"),
        ("\u2212x \u00d7 2 \u00f7 y", "((-x) * 2 * (1/y))"),
    ],
)
def test_math_parser_precedence_and_implicit_multiplication(text, expected):
    assert shape(text) == expected


def test_math_parser_decimals_are_exact_rationals():
    values = [t.value for t in tokenize("0.1 1.5e-3 2E3 .5 7")]
    assert values == [Fraction(1, 10), Fraction(3, 2000), Fraction(2000), Fraction(1, 2), Fraction(7)]


def test_math_parser_long_flat_sum_is_a_flat_node():
    node = ExpressionParser("+".join(["x"] * 600)).parse_expression()
    assert node.kind == "add" and len(node.args) == 600


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("x + ", ["unexpected end", "expected a number"]),
        ("(x + 1", ["'(' at position 0 is never closed"]),
        ("x + 1)", ["unmatched ')' at position 5"]),
        ("2 3", ["number '3' at position 2", "write * between them"]),
        ("sin x", ["function 'sin'", "needs its argument in parentheses"]),
        ("log(1, 2, 3)", ["'log'", "takes 1 or 2 arguments, got 3"]),
        ("sqrt(1, 2)", ["'sqrt'", "takes 1 argument, got 2"]),
        ("x ** * 2", ["unexpected '*' at position 5"]),
        ("xy + 1", ["unknown name 'xy' at position 0", "x*y", "allowed are single-letter variables"]),
        ("foo(x)", ["function 'foo' at position 0 is not allowed", "sin, cos"]),
        ("x % 2", ["character '%' at position 2", "no modulo"]),
        ("5!", ["character '!'", "factorial(n)"]),
        ("x < 1", ["character '<'", "inequalities"]),
        ("x == 1", ["unexpected '='"]),
        ("1e5000", ["decimal exponent"]),
        ("", ["nothing to compute"]),
    ],
)
def test_math_parser_errors_say_what_and_where(text, fragments):
    with pytest.raises(ExpressionError) as info:
        ExpressionParser(text).parse_expression()
    for fragment in fragments:
        assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("9**9**9**9", "exponent too large"),
        ("2**2**2**2**2", "exponent of 65536"),
        ("(x+1)**100000", "exponent of 100000"),
        ("x**(10**6)", "exponent too large"),
        ("2**exp(log(10**6))", "exponent too large"),
        ("2**sqrt(10**10)", "exponent too large"),
        ("2**sin(asin(10**6))", "exponent too large"),
        ("2**log(exp(10**6))", "exponent too large"),
        ("factorial(100000)", "factorial argument too large"),
        ("factorial(2**40)", "factorial argument too large"),
        ("(2**10000)**30", "numbers too large"),
        (" * ".join(["10**1000"] * 70), "numbers too large"),
    ],
)
def test_math_parser_refuses_explosive_sizes(text, fragment):
    with pytest.raises(ExpressionError, match=fragment):
        ExpressionParser(text).parse_expression()


@pytest.mark.parametrize(
    "text",
    [
        "2**10000",
        "(x+1)**10000",
        "factorial(10000)",
        "2**(1/2)",
        "pi**100",
        "2**x",
        "exp(1000)",
        "2**sin(10**10)",
        "2**log(10**6)",
        "x**-10000",
    ],
)
def test_math_parser_accepts_big_but_bounded_sizes(text):
    ExpressionParser(text).parse_expression()


def test_math_parser_nesting_is_bounded():
    ExpressionParser("(" * 90 + "x" + ")" * 90).parse_expression()
    with pytest.raises(ExpressionError, match="nested too deeply"):
        ExpressionParser("(" * 150 + "x" + ")" * 150).parse_expression()
    with pytest.raises(ExpressionError, match="nested too deeply"):
        ExpressionParser("-" * 500 + "x").parse_expression()


def test_math_parser_refuses_inputs_over_2000_characters():
    with pytest.raises(ExpressionError, match="2001 characters, more than the limit of 2000"):
        ExpressionParser("x" + "+x" * 1000).parse_expression()
    with pytest.raises(ExpressionError, match="more than the limit of 2000"):
        parse_request("math: " + "1+" * 1200 + "1")


@pytest.mark.parametrize(
    ("text", "operation", "variables"),
    [
        ("math: solve x**2 - 4 = 0", "solve", ()),
        ("math:solve x = 1", "solve", ()),
        ("MATH Solve: x**2 = 4 for x", "solve", ("x",)),
        ("math: solve x + y = 3, x - y = 1 for x and y", "solve", ("x", "y")),
        ("math: simplify (x**2-1)/(x-1)", "simplify", ()),
        ("math: factorise x**2-5*x+6", "factor", ()),
        ("math: expand (x+1)**3", "expand", ()),
        ("math: diff sin(x)*x", "diff", ()),
        ("math: differentiate x*y**2 wrt y", "diff", ("y",)),
        ("math: derivative of x*y with respect to y", "diff", ("y",)),
        ("math: d/dt t**2", "diff", ("t",)),
        ("math: integrate x**2", "integrate", ()),
        ("math: integral of x*y dy", "integrate", ("y",)),
        ("math: integrate x**2 wrt x from 0 to 1", "integrate", ("x",)),
        ("math: evaluate 2**10 + sqrt(16)", "evaluate", ()),
        ("math: compute 2 + 2", "evaluate", ()),
        ("math: 1/3 + 1/6", "evaluate", ()),
        ("math: (x**2 - 1)/(x - 1)", "simplify", ()),
        ("math: x**2 = 4", "solve", ()),
    ],
)
def test_math_request_operations_and_clauses(text, operation, variables):
    request = parse_request(text)
    assert request.operation == operation
    assert request.variables == variables


def test_math_request_bounds_and_task_hint():
    request = parse_request("math: integrate x**2 from -oo to pi/2")
    assert [b.to_text() for b in request.bounds] == ["(-oo)", "(pi * (1/2))"]
    assert request.expression.to_text() == "(x ** 2)"
    assert parse_request("x**2 - 4", task="math:solve").operation == "solve"
    assert parse_request("x**2 - 4", task="math").operation == "simplify"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("math: solve", "nothing to compute"),
        ("math: diff x wrt 2", "'2' at position"),
        ("math: d/dx x**2 wrt y", "give the variable once"),
        ("math: integrate x*y dx wrt y", "name different variables"),
        ("math: evaluate x = 1", "takes a single expression"),
        ("math: factor x, y", "takes a single expression"),
    ],
)
def test_math_request_errors(text, fragment):
    with pytest.raises(ExpressionError, match=fragment):
        parse_request(text)


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        ("math: solve x = 1", True),
        ("Math:solve", True),
        ("MATH solve x", True),
        ("  math:", True),
        ("math", True),
        ("mathematics: x", False),
        ("maths: 1+1", False),
        ("plan: do math", False),
        ("solve x = 1", False),
        ("", False),
    ],
)
def test_math_is_math_task(task, expected):
    assert is_math_task(task) is expected


def test_math_parsing_never_imports_sympy():
    code = (
        "import sys\n"
        "from himoe_math.parsing.request_parsing import parse_request\n"
        "parse_request('math: integrate sin(x)*x**2 from 0 to pi')\n"
        "assert 'sympy' not in sys.modules, 'parsing imported sympy'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
