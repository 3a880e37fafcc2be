from __future__ import annotations

from fractions import Fraction

import attrs


@attrs.frozen
class MathToken:
    """One token of the restricted math language.

    `kind` is one of ``"num"`` (`value` is an exact Fraction), ``"sym"`` (a variable),
    ``"const"`` (pi, E, I, oo), ``"func"`` (a whitelisted function) or ``"op"`` (one of
    ``+ - * / ** ( ) , =``; ``^`` arrives as ``**``). `pos` is the offset in the request text.
    """

    kind: str
    text: str
    pos: int
    value: Fraction | None = None
