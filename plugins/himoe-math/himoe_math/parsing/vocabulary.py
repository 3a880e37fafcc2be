"""What the restricted math language accepts: the whitelists and the limits.

Everything not listed here is refused by the tokenizer, so no other name can ever reach sympy.
"""

from __future__ import annotations

import re

FUNCTIONS: dict[str, tuple[int, int]] = {
    # name: (min arguments, max arguments)
    "sin": (1, 1),
    "cos": (1, 1),
    "tan": (1, 1),
    "asin": (1, 1),
    "acos": (1, 1),
    "atan": (1, 1),
    "sinh": (1, 1),
    "cosh": (1, 1),
    "tanh": (1, 1),
    "exp": (1, 1),
    "log": (1, 2),  # log(x) is natural, log(x, b) has base b
    "ln": (1, 1),
    "sqrt": (1, 1),
    "abs": (1, 1),
    "factorial": (1, 1),
}

CONSTANTS = ("pi", "E", "I", "oo")

# Greek letter names usable as variables. "lambda" is deliberately absent: it is a Python keyword.
GREEK = frozenset(
    "alpha beta gamma delta epsilon zeta eta theta iota kappa mu nu xi omicron rho sigma tau "
    "upsilon phi chi psi omega".split()
)

# A variable: one ASCII letter, optionally followed by up to three digits (x, y2, x_10).
SYMBOL_NAME = re.compile(r"[A-Za-z](?:_?[0-9]{1,3})?")

OPERATORS = "+ - * / ** ^ ( ) , ="

MAX_INPUT_CHARS = 2000
MAX_DEPTH = 100  # nesting of parentheses, signs, powers and calls
MAX_EXPONENT = 10_000  # |n| for a power with a constant exponent
MAX_FACTORIAL = 10_000  # n in factorial(n)
MAX_NUMBER_BITS = 300_000  # the largest exact number an expression may build (~90,000 digits)
MAX_DECIMAL_EXPONENT = 1000  # |k| in a literal like 1.5e-k

ALLOWED_NAMES = (
    "single-letter variables (optionally with digits, like x1 or x_2), Greek letter names "
    "(alpha, beta, theta, …), the constants " + ", ".join(CONSTANTS) + " and the functions " + ", ".join(FUNCTIONS)
)
ALLOWED_SYNTAX = f"numbers, names, the operators {OPERATORS} and round parentheses"


def is_symbol_name(name: str) -> bool:
    return name in GREEK or SYMBOL_NAME.fullmatch(name) is not None
