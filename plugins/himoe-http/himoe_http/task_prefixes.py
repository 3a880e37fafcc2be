"""Matching a request against an expert's configured task prefixes."""

from __future__ import annotations


def matching_prefix(text: str, prefixes: tuple[str, ...]) -> str | None:
    """The first prefix `text` starts with (case-insensitive, leading spaces ignored), or None."""
    lowered = text.lstrip().lower()
    for prefix in prefixes:
        if lowered.startswith(prefix.lower()):
            return prefix
    return None


def strip_prefix(text: str, prefixes: tuple[str, ...]) -> str:
    """`text` without the task prefix it starts with (if any), surrounding spaces removed."""
    stripped = text.strip()
    prefix = matching_prefix(stripped, prefixes)
    if prefix is not None:
        stripped = stripped[len(prefix) :].strip()
    return stripped
