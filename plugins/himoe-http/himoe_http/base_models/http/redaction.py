"""Keeping secrets out of messages and results, and messages on one line."""

from __future__ import annotations

from typing import Any

REDACTED = "***"


def redact(text: str, secret: str | None) -> str:
    """`text` with every occurrence of `secret` replaced by ``***``."""
    if secret and secret in text:
        return text.replace(secret, REDACTED)
    return text


def redact_json(data: Any, secret: str | None) -> Any:
    """A copy of parsed JSON with `secret` removed from every string, keys included."""
    if not secret:
        return data
    if isinstance(data, str):
        return redact(data, secret)
    if isinstance(data, list):
        return [redact_json(item, secret) for item in data]
    if isinstance(data, dict):
        return {redact(key, secret): redact_json(value, secret) for key, value in data.items()}
    return data


def one_line(text: str, limit: int = 160) -> str:
    """Whitespace runs collapsed to one space, cut to `limit` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def snippet(body: bytes, secret: str | None, limit: int = 160) -> str:
    """A short, one-line, secret-free rendering of a reply body for an error message.

    The body is cut before it is shown, and a cut may fall inside the secret: a tail that could
    be the start of it is masked too, or whitespace collapsing would bring it into view."""
    text = redact(body[: limit * 4].decode("utf-8", errors="replace"), secret)
    if secret:
        for size in range(min(len(secret), len(text)), 0, -1):
            if text.endswith(secret[:size]):
                text = text[:-size] + REDACTED
                break
    return one_line(text, limit)
