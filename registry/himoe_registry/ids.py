"""Name rules and the stable name -> id hash.

The id contract: an expert's id is the first 8 bytes (big-endian) of the
BLAKE2b hash of its UTF-8 name.  It depends on nothing but the name, so it
is the same on every machine, in every process and in every version of
himoe; saved routing tables and checkpoints can key on it.
"""

from __future__ import annotations

import hashlib
import re

from himoe_registry.expert_id import ExpertId
from himoe_registry.invalid_name import InvalidName

#: What a valid name looks like (use with ``fullmatch``).
NAME_PATTERN = re.compile(r"[a-z0-9][a-z0-9_.-]*")

#: Longest accepted name, in characters.
MAX_NAME_LENGTH = 128

_RULE = "names must match [a-z0-9][a-z0-9_.-]* (lower-case letters, digits, '_', '.', '-'), e.g. 'rule_planner'"
# Shown instead of the full value when a name is absurdly long.
_SHOWN_CHARS = 40


def _suggest(name: str) -> str | None:
    """A valid name close to ``name``, to put in the error, or None."""
    candidate = re.sub(r"[^a-z0-9_.-]+", "_", name.strip().lower())
    candidate = re.sub(r"^[_.-]+", "", candidate)[:MAX_NAME_LENGTH]
    if candidate and candidate != name and NAME_PATTERN.fullmatch(candidate):
        return candidate
    return None


def validate_name(name: object, *, kind: str = "expert") -> str:
    """Return ``name`` unchanged if it is a valid name, else raise ``InvalidName``.

    Valid names fully match :data:`NAME_PATTERN` and are at most
    :data:`MAX_NAME_LENGTH` characters long.  ``kind`` only changes the
    wording of the error (``"invalid expert name ..."``).
    """
    if not isinstance(name, str):
        raise InvalidName(
            f"invalid {kind} name {name!r}: expected a str, got {type(name).__name__}; {_RULE}",
            name,
        )
    if not name:
        raise InvalidName(f"invalid {kind} name '': the name is empty; {_RULE}", name)
    if len(name) > MAX_NAME_LENGTH:
        shown = name[:_SHOWN_CHARS] + "..."
        raise InvalidName(
            f"invalid {kind} name {shown!r}: it is {len(name)} characters long, the maximum is {MAX_NAME_LENGTH}",
            name,
        )
    if NAME_PATTERN.fullmatch(name) is None:
        suggestion = _suggest(name)
        hint = f"; did you mean {suggestion!r}?" if suggestion else ""
        raise InvalidName(f"invalid {kind} name {name!r}: {_RULE}{hint}", name)
    return name


def stable_id(name: str) -> ExpertId:
    """The stable 64-bit id of ``name`` (validated first).

    ``stable_id("rule_planner") == ExpertId.parse("21173fea50be1d0d")``.
    """
    validate_name(name)
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8).digest()
    return ExpertId(int.from_bytes(digest, "big"))
