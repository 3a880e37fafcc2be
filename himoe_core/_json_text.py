"""Compact JSON text of what the state writer stores (traces, decision records), at C speed.

orjson writes a trace in about a sixth of the time `json` takes: the writer thread's time is
what logging costs a request, beside the event loop it competes with for the GIL. The text
means the same to any JSON reader, `json.loads` included; it differs from `json.dumps` only in
spacing, in non-ASCII characters written as themselves (UTF-8) rather than escaped, and in the
few things orjson refuses — a str that is not valid Unicode (a lone surrogate), an integer
beyond 64 bits, a key that is not a str — which `json` writes instead (escaped to ASCII), so
nothing it took is refused now. A NaN or infinity, which `json` writes as the non-standard `NaN`/`Infinity`, is
written as `null`: a caller that must read one back checks for them first (decision_codec).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

# ASCII: a lone surrogate escaped (as `json.dumps` does), since SQLite and PostgreSQL refuse it raw.
_FALLBACK = json.JSONEncoder(check_circular=False, separators=(",", ":"))


def dumps(data: Any) -> str:
    """`data` (JSON-ready: dicts with str keys, lists, tuples, str, numbers, bools, None) as
    compact JSON text."""
    try:
        return orjson.dumps(data).decode()
    except TypeError:  # orjson.JSONEncodeError: see the module's docstring
        return _FALLBACK.encode(data)


def stdlib_dumps(data: Any) -> str:
    """The same, by `json` alone: NaN and infinity written as `NaN` and `Infinity`."""
    return _FALLBACK.encode(data)
