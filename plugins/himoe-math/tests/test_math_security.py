"""Untrusted text never reaches eval/exec: injections are refused by the whitelist parser."""

from __future__ import annotations

import ast
import builtins
import os
import time
from pathlib import Path

import pytest
import trio
from himoe_math.compute.operations import compute
from himoe_math.experts.math.math_sympy import MathSympy
from himoe_math.parsing.expression_error import ExpressionError

from himoe_core import Context, InputData, InvalidInput

PACKAGE = Path(__file__).resolve().parents[1] / "himoe_math"

INJECTIONS = [
    ("math: __import__('os').system('touch pwned.txt')", "'__import__'"),
    ("math: ().__class__", "'.'"),
    ("math: ().__class__.__bases__[0].__subclasses__()", "'.'"),
    ("math: x.__class__", "'.'"),
    ("math: sin.__globals__", "'.'"),
    ("math: eval('1+1')", "'eval'"),
    ("math: eval(x)", "'eval'"),
    ("math: exec('import os')", "'exec'"),
    ("math: lambda: 1", "'lambda'"),
    ("math: evaluate lambda x: x", "'lambda'"),
    ("math: x; import os", "';'"),
    ("math: [x for x in ()]", "'['"),
    ("math: {x: 1}", "'{'"),
    ("math: getattr(x, 'y')", "'getattr'"),
    ("math: open('/etc/passwd')", "'open'"),
    ("math: Symbol('x')", "'Symbol'"),
    ("math: sympify('x')", "'sympify'"),
    ("math: __builtins__", "'__builtins__'"),
    ("math: f'{x}'", '"\'"'),
    ("math: `x`", "'`'"),
    ("math: x if x else y", "'if'"),
    ("math: 0x1F", "'x1F'"),
    ("math: 1_000", "'_000'"),
    ("math: integrate x from __import__ to 1", "'__import__'"),
    ("math: solve x = 1 for os", "'os'"),
    ("math: diff x wrt _", "'_'"),
    ("math: x @ y", "'@'"),
    ("math: import os", "'import'"),
]


@pytest.fixture(scope="module")
def expert():
    expert = MathSympy(workers=1)
    assert expert.warm_up(wait_s=120)
    yield expert
    expert.close()


def no_worker(*args, **kwargs):
    raise AssertionError("a sympy worker was asked to compute a request the parser should refuse")


@pytest.mark.parametrize(("text", "token"), INJECTIONS)
def test_math_injection_is_refused_naming_the_token(expert, text, token, monkeypatch):
    monkeypatch.setattr(expert.worker_pool(), "run", no_worker)  # refused by the parser, before any worker
    with pytest.raises(InvalidInput) as info:
        trio.run(expert.infer, InputData.text(text), Context.start(10_000))
    message = str(info.value)
    assert token in message
    assert "allowed" in message or "use only" in message  # and says what is allowed


def test_math_os_system_payload_creates_no_file(expert, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "pwned.txt"
    payloads = [
        "math: __import__('os').system('touch pwned.txt')",
        f"math: __import__('os').system('touch {marker}')",
        "math: evaluate __import__('os').system('touch pwned.txt')",
        "math: solve __import__('os').system('touch pwned.txt') = 0",
    ]
    for payload in payloads:
        with pytest.raises(InvalidInput, match="__import__"):
            trio.run(expert.infer, InputData.text(payload), Context.start(10_000))
        # The worker re-parses whatever it is sent: hand it the payload directly, skipping the
        # caller-side check, and it refuses it the same way.
        with pytest.raises(InvalidInput, match="__import__"):
            expert.worker_pool().run(payload, None, deadline=time.monotonic() + 30, budget_ms=30_000)
        with pytest.raises(ExpressionError, match="__import__"):
            compute(payload)
    time.sleep(0.2)
    assert not marker.exists()
    assert os.listdir(tmp_path) == []


def test_math_untrusted_text_never_reaches_eval_or_exec(monkeypatch):
    """Record every string given to eval/exec/compile and to sympy's string parser while the
    operations run in this process: none may contain the request's text. (sympy itself execs
    generated code and parses its own constant strings; none of that may carry user text.)"""
    seen: list[str] = []

    def recording(real):
        def wrapper(source, *args, **kwargs):
            if isinstance(source, (str, bytes)):
                seen.append(source if isinstance(source, str) else source.decode("utf-8", "replace"))
            return real(source, *args, **kwargs)

        return wrapper

    import sympy.parsing.sympy_parser

    requests = {
        "math: solve q_917**2 - 4 = 0": "[-2, 2]",
        "math: simplify (q_917**2-1)/(q_917-1)": "q_917 + 1",
        "math: factor q_917**2-5*q_917+6": "(q_917 - 3)*(q_917 - 2)",
        "math: expand (q_917+1)**3": "q_917**3 + 3*q_917**2 + 3*q_917 + 1",
        "math: diff sin(q_917)*q_917": "q_917*cos(q_917) + sin(q_917)",
        "math: integrate q_917**2 from 0 to 1": "1/3",
        "math: evaluate 1/3 + 1/6 + q_917 - q_917": "1/2",
    }
    monkeypatch.setattr(builtins, "eval", recording(builtins.eval))
    monkeypatch.setattr(builtins, "exec", recording(builtins.exec))
    monkeypatch.setattr(builtins, "compile", recording(builtins.compile))
    monkeypatch.setattr(sympy.parsing.sympy_parser, "parse_expr", recording(sympy.parsing.sympy_parser.parse_expr))
    for text, expected in requests.items():
        assert compute(text)["result"] == expected
    assert not [source for source in seen if "q_917" in source]


def test_math_package_calls_no_dynamic_evaluation():
    """No module of the plugin calls eval, exec, compile, __import__, sympy's string parsers, or
    getattr with a computed attribute name."""
    forbidden = {"eval", "exec", "compile", "__import__", "sympify", "parse_expr", "S", "lambdify", "import_module"}
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Name):
                name = func.id
            elif isinstance(func, ast.Attribute) and func.attr != "compile":  # re.compile is fine
                name = func.attr
            else:
                continue
            computed = name in ("getattr", "setattr") and not isinstance(node.args[1], ast.Constant)
            if name in forbidden or computed:
                offenders.append(f"{path.name}:{node.lineno} {name}")
    assert offenders == []


def test_math_very_long_input_is_refused(expert):
    with pytest.raises(InvalidInput, match="more than the limit of 2000"):
        trio.run(expert.infer, InputData.text("math: " + "x+" * 1500 + "1"), Context.start(10_000))
    with pytest.raises(InvalidInput, match="more than the limit of 2000"):
        trio.run(expert.infer, InputData.text("math: evaluate " + "1" * 2500), Context.start(10_000))


def test_math_deep_nesting_is_refused(expert):
    with pytest.raises(InvalidInput, match="nested too deeply"):
        trio.run(expert.infer, InputData.text("math: " + "(" * 400 + "x" + ")" * 400), Context.start(10_000))
    with pytest.raises(InvalidInput, match="nested too deeply"):
        trio.run(expert.infer, InputData.text("math: " + "sin(" * 300 + "x" + ")" * 300), Context.start(10_000))
