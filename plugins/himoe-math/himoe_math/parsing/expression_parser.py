from __future__ import annotations

from .expr_node import ExprNode
from .expression_error import ExpressionError
from .math_token import MathToken
from .size_guard import check_sizes
from .tokenizer import excerpt, tokenize
from .vocabulary import ALLOWED_SYNTAX, FUNCTIONS, MAX_DEPTH

_STARTS_OPERAND = ("num", "sym", "const", "func")


class ExpressionParser:
    """A recursive-descent parser for the restricted math language; it never evaluates anything.

    Grammar (``^`` is ``**``; powers are right-associative and bind tighter than a sign, so
    ``-x**2`` is ``-(x**2)``; a factor written right after another one multiplies it, as in
    ``2x``, ``2(x+1)`` or ``(x+1)(x-1)``)::

        equations := equation ("," equation)*
        equation  := expr ["=" expr]
        expr      := term (("+" | "-") term)*
        term      := unary (("*" | "/") unary | implicit-factor)*
        unary     := ("+" | "-") unary | power
        power     := primary ["**" unary]
        primary   := number | variable | constant | function "(" expr ("," expr)* ")" | "(" expr ")"

    The result is an ExprNode tree of plain data, checked by the size guard (exponents,
    factorials and the size of exact numbers) before anything can compute it.
    """

    def __init__(self, text: str, offset: int = 0) -> None:
        self.text = text
        self.offset = offset
        self.tokens: list[MathToken] = tokenize(text, offset)
        self.index = 0
        self.depth = 0

    # -- entry points ------------------------------------------------------------------------
    def parse_expression(self) -> ExprNode:
        """One expression: no '=' and no ','."""
        self._require_tokens()
        node = self._expr()
        self._expect_end()
        check_sizes(node)
        return node

    def parse_equations(self) -> tuple[tuple[ExprNode, ExprNode | None], ...]:
        """Comma-separated equations ``lhs = rhs`` or expressions (meaning ``= 0``)."""
        self._require_tokens()
        equations = [self._equation()]
        while self._accept(","):
            equations.append(self._equation())
        self._expect_end()
        for lhs, rhs in equations:
            check_sizes(lhs)
            if rhs is not None:
                check_sizes(rhs)
        return tuple(equations)

    def parse_symbols(self) -> tuple[str, ...]:
        """Variable names separated by commas (or the word 'and' removed by the caller)."""
        self._require_tokens()
        names = [self._symbol()]
        while self._accept(","):
            names.append(self._symbol())
        self._expect_end()
        return tuple(names)

    # -- grammar -------------------------------------------------------------------------------
    def _equation(self) -> tuple[ExprNode, ExprNode | None]:
        lhs = self._expr()
        if self._accept("="):
            return lhs, self._expr()
        return lhs, None

    def _expr(self) -> ExprNode:
        first = self._peek()
        terms = [self._term()]
        while True:
            token = self._peek()
            if token is None or token.kind != "op" or token.text not in ("+", "-"):
                break
            self.index += 1
            term = self._term()
            terms.append(term if token.text == "+" else ExprNode("neg", args=(term,), pos=token.pos))
        if len(terms) == 1:
            return terms[0]
        assert first is not None, "the terms were read from it"
        return ExprNode("add", args=tuple(terms), pos=first.pos)

    def _term(self) -> ExprNode:
        first = self._peek()
        factors = [self._unary()]
        while True:
            token = self._peek()
            if token is None:
                break
            if token.kind == "op" and token.text in ("*", "/"):
                self.index += 1
                factor = self._unary()
                factors.append(factor if token.text == "*" else ExprNode("inv", args=(factor,), pos=token.pos))
            elif token.kind in ("sym", "const", "func") or (token.kind == "op" and token.text == "("):
                factors.append(self._unary())  # implicit multiplication: 2x, 2(x+1), (x+1)(x-1)
            elif token.kind == "num":
                raise self._error(
                    f"number {token.text!r} at position {token.pos} follows another factor "
                    "without an operator; write * between them",
                    token,
                )
            else:
                break
        if len(factors) == 1:
            return factors[0]
        assert first is not None, "the factors were read from it"
        return ExprNode("mul", args=tuple(factors), pos=first.pos)

    def _unary(self) -> ExprNode:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            token = self._peek()
            raise ExpressionError(
                f"expression is nested too deeply (more than {MAX_DEPTH} levels of parentheses, "
                f"signs, powers or calls) near position {token.pos if token else len(self.text) + self.offset}; "
                "simplify it"
            )
        try:
            token = self._peek()
            if token is not None and token.kind == "op" and token.text in ("+", "-"):
                self.index += 1
                operand = self._unary()
                return operand if token.text == "+" else ExprNode("neg", args=(operand,), pos=token.pos)
            return self._power()
        finally:
            self.depth -= 1

    def _power(self) -> ExprNode:
        base = self._primary()
        token = self._peek()
        if token is not None and token.kind == "op" and token.text == "**":
            self.index += 1
            exponent = self._unary()
            return ExprNode("pow", args=(base, exponent), pos=token.pos)
        return base

    def _primary(self) -> ExprNode:
        token = self._next("a number, a variable, a function call or '('")
        if token.kind == "num":
            return ExprNode("num", token.value, pos=token.pos)
        if token.kind in ("sym", "const"):
            return ExprNode(token.kind, token.text, pos=token.pos)
        if token.kind == "func":
            return self._call(token)
        if token.text == "(":
            inner = self._expr()
            self._close(token)
            return inner
        raise self._error(
            f"unexpected {token.text!r} at position {token.pos}; expected a number, a variable, a function call or '('",
            token,
        )

    def _call(self, name: MathToken) -> ExprNode:
        opening = self._peek()
        if opening is None or opening.text != "(":
            raise self._error(
                f"function {name.text!r} at position {name.pos} needs its argument in parentheses, like {name.text}(x)",
                name,
            )
        self.index += 1
        args = [self._expr()]
        while self._accept(","):
            args.append(self._expr())
        self._close(opening)
        low, high = FUNCTIONS[name.text]
        if not low <= len(args) <= high:
            wanted = str(low) if low == high else f"{low} or {high}"
            raise self._error(
                f"function {name.text!r} at position {name.pos} takes {wanted} "
                f"argument{'s' if high > 1 else ''}, got {len(args)}",
                name,
            )
        return ExprNode("call", name.text, tuple(args), pos=name.pos)

    def _symbol(self) -> str:
        token = self._next("a variable name")
        if token.kind != "sym":
            raise self._error(
                f"{token.text!r} at position {token.pos} is not a variable; give a variable name like x or theta", token
            )
        return token.text

    # -- token helpers -------------------------------------------------------------------------
    def _peek(self) -> MathToken | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def _next(self, expected: str) -> MathToken:
        token = self._peek()
        if token is None:
            raise ExpressionError(f"unexpected end of {self.text.strip()!r}: expected {expected}")
        self.index += 1
        return token

    def _accept(self, op: str) -> bool:
        token = self._peek()
        if token is not None and token.kind == "op" and token.text == op:
            self.index += 1
            return True
        return False

    def _close(self, opening: MathToken) -> None:
        token = self._peek()
        if token is None:
            raise ExpressionError(f"'(' at position {opening.pos} is never closed; add ')'")
        if token.text != ")":
            raise self._error(
                f"unexpected {token.text!r} at position {token.pos}; expected ')' to close "
                f"the '(' at position {opening.pos}",
                token,
            )
        self.index += 1

    def _expect_end(self) -> None:
        token = self._peek()
        if token is None:
            return
        if token.text == ")":
            raise self._error(f"unmatched ')' at position {token.pos}", token)
        if token.text in ("=", ","):
            raise self._error(
                f"unexpected {token.text!r} at position {token.pos}: this operation takes a single expression", token
            )
        raise self._error(
            f"unexpected {token.text!r} at position {token.pos}; expected an operator ({ALLOWED_SYNTAX})", token
        )

    def _require_tokens(self) -> None:
        if not self.tokens:
            raise ExpressionError("nothing to compute: give an expression, e.g. 'math: solve x**2 - 4 = 0'")

    def _error(self, message: str, token: MathToken) -> ExpressionError:
        return ExpressionError(f"{message} (in {excerpt(self.text, token.pos - self.offset)!r})")
