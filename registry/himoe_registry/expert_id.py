"""The :class:`ExpertId` type: an unsigned 64-bit expert identifier."""

from __future__ import annotations

import operator
import re
from typing import Any

_HEX_DIGITS = 16
_LIMIT = 1 << 64
_HEX_RE = re.compile(r"(?:0[xX])?([0-9a-fA-F]{16})")


class ExpertId(int):
    """An unsigned 64-bit expert id that prints as 16 lower-case hex digits.

    It *is* an ``int``: hashing, equality and ordering are the integer ones,
    so ``ExpertId(5) == 5`` and both find the same dict entry.  Arithmetic
    returns plain ``int``.  Only the textual forms differ::

        >>> eid = ExpertId(0x21173FEA50BE1D0D)
        >>> str(eid), eid.hex
        ('21173fea50be1d0d', '21173fea50be1d0d')
        >>> eid
        ExpertId('21173fea50be1d0d')
        >>> ExpertId.parse("0x21173fea50be1d0d") == eid
        True

    ``format(eid, "d")`` and ``json.dumps(eid)`` still give the decimal value.
    """

    # Ids travel through hot routing paths: no per-instance __dict__.
    __slots__ = ()

    def __new__(cls, value: Any) -> ExpertId:
        """Build an id from an integer in ``[0, 2**64)``.

        Accepts anything with ``__index__`` (e.g. ``numpy.uint64``) so ids
        coming out of arrays need no manual conversion; rejects ``bool``,
        ``float`` and ``str`` (use :meth:`parse` for text).
        """
        if type(value) is cls:
            # Immutable, so re-wrapping an ExpertId can hand back the same object.
            return value
        if isinstance(value, bool):
            raise TypeError(f"expert id must be an integer, got bool {value!r}")
        try:
            number = operator.index(value)
        except TypeError:
            hint = "; use ExpertId.parse() for hex text" if isinstance(value, str) else ""
            raise TypeError(f"expert id must be an integer, got {type(value).__name__} {value!r}{hint}") from None
        if not 0 <= number < _LIMIT:
            raise ValueError(f"expert id {number} is out of range: ids are unsigned 64-bit integers in [0, 2**64)")
        return super().__new__(cls, number)

    @classmethod
    def parse(cls, text: str) -> ExpertId:
        """Parse the 16-hex-digit form produced by ``str()``.

        An optional ``0x`` prefix and upper-case digits are accepted;
        anything else raises ``ValueError`` saying what is expected.
        """
        if not isinstance(text, str):
            raise TypeError(f"ExpertId.parse() expects a str, got {type(text).__name__} {text!r}")
        match = _HEX_RE.fullmatch(text)
        if match is None:
            raise ValueError(
                f"invalid expert id {text!r}: expected exactly {_HEX_DIGITS} hex digits, "
                f"optionally prefixed by '0x', e.g. '21173fea50be1d0d'"
            )
        return cls(int(match.group(1), 16))

    @property
    def hex(self) -> str:
        """The id as 16 lower-case hex digits, zero-padded."""
        return format(int(self), "016x")

    def __str__(self) -> str:
        return format(int(self), "016x")

    def __repr__(self) -> str:
        return f"ExpertId('{format(int(self), '016x')}')"
