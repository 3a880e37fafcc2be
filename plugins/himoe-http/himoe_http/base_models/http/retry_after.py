"""Reading the Retry-After header of a 429 or 503 reply."""

from __future__ import annotations

import email.utils
import math
import time


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """The wait Retry-After asks for, in seconds (>= 0), or None when absent or unreadable.

    Accepts delay-seconds (``"2"``; a fractional ``"0.25"`` is accepted too, as many servers send
    it) and an HTTP-date (``"Wed, 21 Oct 2015 07:28:00 GMT"``), measured against `now` (Unix time).
    """
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        if math.isfinite(seconds):
            return max(0.0, seconds)
        return None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))
