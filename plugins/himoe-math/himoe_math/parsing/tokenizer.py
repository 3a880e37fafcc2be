"""Tokenizing the restricted math language: a whitelist, nothing else gets through."""

from __future__ import annotations

import re
from fractions import Fraction

from .expression_error import ExpressionError
from .math_token import MathToken
from .vocabulary import (
    ALLOWED_NAMES,
    ALLOWED_SYNTAX,
    CONSTANTS,
    FUNCTIONS,
    MAX_DECIMAL_EXPONENT,
    MAX_INPUT_CHARS,
    is_symbol_name,
)

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<num>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE](?P<exp>[+-]?[0-9]+))?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>\*\*|[-+*/^(),=])
    """,
    re.VERBOSE | re.ASCII,
)

# Typographic symbols people paste, mapped one character to one (positions stay the same).
_TYPOGRAPHY = str.maketrans({"\u2212": "-", "\u00d7": "*", "\u00b7": "*", "\u22c5": "*", "\u00f7": "/"})

_CHAR_HINTS = {
    ".": "attribute access is not allowed",
    "'": "strings are not allowed",
    '"': "strings are not allowed",
    "[": "only round parentheses are allowed",
    "]": "only round parentheses are allowed",
    "{": "only round parentheses are allowed",
    "}": "only round parentheses are allowed",
    ";": "give one request only",
    "!": "write factorial(n)",
    "%": "there is no modulo operator",
    "@": "there is no matrix product",
    "<": "inequalities are not supported",
    ">": "inequalities are not supported",
}


def excerpt(text: str, pos: int, width: int = 24) -> str:
    """A short piece of `text` around `pos`, for error messages."""
    start = max(0, pos - width // 2)
    piece = text[start : start + width]
    return ("…" if start > 0 else "") + piece + ("…" if start + width < len(text) else "")


def tokenize(text: str, offset: int = 0) -> list[MathToken]:
    """The tokens of `text`, or ExpressionError naming the first thing that is not allowed.

    `offset` is added to positions, so that errors point into the whole request.
    """
    if len(text) > MAX_INPUT_CHARS:
        raise ExpressionError(
            f"input has {len(text)} characters, more than the limit of {MAX_INPUT_CHARS} for a math request; shorten it"
        )
    text = text.translate(_TYPOGRAPHY)
    tokens: list[MathToken] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            char = text[pos]
            hint = _CHAR_HINTS.get(char)
            raise ExpressionError(
                f"character {char!r} at position {pos + offset} is not allowed"
                + (f" ({hint})" if hint else "")
                + f" in {excerpt(text, pos)!r}; use only {ALLOWED_SYNTAX}"
            )
        where = pos + offset
        pos = match.end()
        if match.lastgroup == "space":
            continue
        word = match.group()
        if match.lastgroup == "num":
            exponent = match.group("exp")
            if exponent is not None and abs(int(exponent)) > MAX_DECIMAL_EXPONENT:
                raise ExpressionError(
                    f"number {word!r} at position {where} has a decimal exponent beyond "
                    f"±{MAX_DECIMAL_EXPONENT}; use smaller numbers"
                )
            tokens.append(MathToken("num", word, where, Fraction(word)))
        elif match.lastgroup == "op":
            tokens.append(MathToken("op", "**" if word == "^" else word, where))
        elif word in FUNCTIONS:
            tokens.append(MathToken("func", word, where))
        elif word in CONSTANTS:
            tokens.append(MathToken("const", word, where))
        elif is_symbol_name(word):
            tokens.append(MathToken("sym", word, where))
        else:
            raise ExpressionError(_unknown_name(word, where, text[pos:].lstrip().startswith("(")))
    return tokens


def _unknown_name(word: str, where: int, called: bool) -> str:
    if called:
        what = f"function {word!r} at position {where} is not allowed"
    else:
        what = f"unknown name {word!r} at position {where}"
    hint = ""
    if not called and word.isalpha() and 2 <= len(word) <= 3 and word.islower():
        hint = f" (if you meant a product of variables, write {'*'.join(word)})"
    return f"{what}{hint}; allowed are {ALLOWED_NAMES}"
