"""Task prefixes such as ``fr:tag`` or ``lang:id``: recognising them and stripping them from text.

A prefix matches at the start of the string (after leading whitespace), case-insensitively, and
only as a whole word: ``fr:pos`` matches ``"fr:pos Il pleut."`` and ``"FR:POS"`` but not
``"fr:posture"``.
"""

from __future__ import annotations

import re
from functools import cache


@cache
def _pattern(prefixes: tuple[str, ...]) -> re.Pattern[str]:
    # Longest first, so that a prefix that extends another one wins.
    alternatives = "|".join(re.escape(p) for p in sorted(prefixes, key=len, reverse=True))
    return re.compile(rf"^\s*({alternatives})(?![\w])[ \t]*:?\s*", re.IGNORECASE)


def match_prefix(text: str, prefixes: tuple[str, ...]) -> str | None:
    """The prefix (as spelled in `prefixes`) that `text` starts with, else None."""
    match = _pattern(prefixes).match(text)
    if match is None:
        return None
    found = match.group(1).lower()
    return next(p for p in prefixes if p.lower() == found)


def strip_prefix(text: str, prefixes: tuple[str, ...]) -> str:
    """`text` without a leading task prefix (and the ``:``/whitespace after it), stripped."""
    match = _pattern(prefixes).match(text)
    return text[match.end() :].strip() if match else text.strip()
