"""Each operation through the real expert: restricted parser, worker process, exact sympy results."""

from __future__ import annotations

import json

import pytest
import trio
from himoe_math.experts.math.math_sympy import MathSympy

from himoe_core import Context, ExpertOut, InputData, InvalidInput, ValueKind


@pytest.fixture(scope="module")
def expert():
    expert = MathSympy(workers=1)
    assert expert.warm_up(wait_s=120), "the sympy worker did not start"
    yield expert
    expert.close()


def infer(expert: MathSympy, text: str, *, task: str | None = None, budget_ms: float = 60_000) -> ExpertOut:
    return trio.run(expert.infer, InputData.text(text, task=task), Context.start(budget_ms))


def answer(expert: MathSympy, text: str, **kwargs) -> dict:
    out = infer(expert, text, **kwargs)
    assert out.value.kind is ValueKind.JSON
    return out.value.as_json()


@pytest.mark.parametrize(
    ("text", "operation", "result"),
    [
        ("math: solve x**2 - 4 = 0", "solve", "[-2, 2]"),
        ("math: factor x**2-5*x+6", "factor", "(x - 3)*(x - 2)"),
        ("math: diff sin(x)*x", "diff", "x*cos(x) + sin(x)"),
        ("math: integrate x**2 from 0 to 1", "integrate", "1/3"),
        ("math: evaluate 1/3 + 1/6", "evaluate", "1/2"),
        ("math: simplify (x**2-1)/(x-1)", "simplify", "x + 1"),
        ("math: expand (x+1)**3", "expand", "x**3 + 3*x**2 + 3*x + 1"),
        ("math: 1/3 + 1/6", "evaluate", "1/2"),
        ("math: evaluate 2**10 + sqrt(16)", "evaluate", "1028"),
        ("math: integrate x**2", "integrate", "x**3/3"),
        ("math: differentiate x*y**2 wrt y", "diff", "2*x*y"),
        ("math: d/dx x**3", "diff", "3*x**2"),
        ("math: integrate x*y dy from 0 to 1", "integrate", "x/2"),
        ("math: integrate exp(-x**2) from -oo to oo", "integrate", "sqrt(pi)"),
        ("math: expand 2(x+1)^2", "expand", "2*x**2 + 4*x + 2"),
        ("math: evaluate 0.1 + 0.2", "evaluate", "3/10"),
        ("math: evaluate sin(pi/6) + log(8, 2)", "evaluate", "7/2"),
        ("math: sin(x)**2 + cos(x)**2", "simplify", "1"),
        ("math: x**2 = 9", "solve", "[-3, 3]"),
        ("math: solve (x - 10)*(x - 2) = 0", "solve", "[2, 10]"),
        ("math: solve x**2 + 1 = 0", "solve", "[-I, I]"),
        ("math: solve x + y = 3, x - y = 1", "solve", "[{x: 2, y: 1}]"),
        ("math: solve a*x + b = 0 for x", "solve", "[-b/a]"),
        ("math: factor 360", "factor", "2**3*3**2*5"),
    ],
)
def test_math_operation_exact_results(expert, text, operation, result):
    data = answer(expert, text)
    assert data["operation"] == operation
    assert data["result"] == result
    assert data["exact"] is True


def test_math_solve_gives_sorted_solutions_and_renders_them(expert):
    out = infer(expert, "math: solve x**2 - 4 = 0")
    data = out.value.as_json()
    assert data["solutions"] == ["-2", "2"]
    assert data["variables"] == ["x"]
    assert data["input"] == "x**2 - 4 = 0"
    assert data["numeric"] is None
    assert "[-2, 2]" in out.value.render()
    assert out.aux.confidence == 1.0 and out.aux.cost_units == expert.cost_units
    cubic = answer(expert, "math: solve x**3 - 6*x**2 + 11*x - 6 = 0")
    assert cubic["solutions"] == ["1", "2", "3"]


def test_math_numeric_and_latex_fields(expert):
    data = answer(expert, "math: integrate x**2 from 0 to 1")
    assert data["numeric"] == pytest.approx(1 / 3)
    assert data["latex"] == r"\frac{1}{3}"
    assert data["bounds"] == ["0", "1"]
    assert answer(expert, "math: evaluate sqrt(2)")["numeric"] == pytest.approx(2**0.5)
    assert answer(expert, "math: expand (x+1)**3")["latex"] == "x^{3} + 3 x^{2} + 3 x + 1"
    assert answer(expert, "math: expand (x+1)**3")["numeric"] is None
    assert answer(expert, "math: 1/0")["numeric"] is None  # zoo is no float
    assert answer(expert, "math: factor 360")["factors"] == {"2": 3, "3": 2, "5": 1}
    json.dumps(answer(expert, "math: evaluate 2**10000"))  # a 3011-digit exact integer survives the trip


def test_math_large_exact_integer_is_printed_in_full(expert):
    data = answer(expert, "math: evaluate 3**10000")
    digits = data["result"]  # compared piecewise: Python refuses to print ints over 4300 digits
    assert len(digits) == 4772 and digits.isdigit()
    assert int(digits[-30:]) == pow(3, 10000, 10**30)
    assert int(digits[:30]) == int(f"{3**10000 // 10 ** (4772 - 30)}")


def test_math_operation_from_the_task_hint(expert):
    assert answer(expert, "x**2 - 4 = 0", task="math:solve")["solutions"] == ["-2", "2"]
    assert answer(expert, "x**2-5*x+6", task="math:factor")["result"] == "(x - 3)*(x - 2)"


def test_math_unevaluated_integral_has_lower_confidence(expert):
    out = infer(expert, "math: integrate sin(x**2)*exp(x)")
    data = out.value.as_json()
    assert data["result"] == "Integral(exp(x)*sin(x**2), x)"
    assert data["exact"] is False
    assert out.aux.confidence == 0.5


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("math: diff x*y", "several variables (x, y); say which one, e.g. 'differentiate ... wrt x'"),
        ("math: integrate x*y", "several variables (x, y)"),
        ("math: solve x + y = 1", "several variables"),
        ("math: solve 1 = 2", "nothing to solve"),
        ("math: solve x = x", "holds for every value"),
        ("math: expand (x+1)**2000", "result too large"),
        ("math: solve 2**x + x**3 = sin(x)", "sympy cannot compute this"),
    ],
)
def test_math_requests_sympy_cannot_answer_are_invalid_input(expert, text, fragment):
    with pytest.raises(InvalidInput) as info:
        infer(expert, text)
    assert fragment in str(info.value)


def test_math_non_text_input_is_refused(expert):
    with pytest.raises(InvalidInput, match="needs text"):
        trio.run(expert.infer, InputData.features([1.0, 2.0], task="math"), Context.start(1000))


def test_math_worker_survives_many_requests(expert):
    pool = expert.worker_pool()
    before = pool.worker_pids()
    for n in range(1, 21):
        assert answer(expert, f"math: expand (x+{n})**2")["result"] == f"x**2 + {2 * n}*x + {n * n}"
    assert pool.worker_pids() == before  # one warm process served them all
