from __future__ import annotations


def log_text(text: str) -> str:
    """`text` as it may go into a log line: a client's path or trace id with a newline or other
    control character, which could forge a line of its own, is escaped."""
    if text.isascii() and text.isprintable():
        return text
    return text.encode("unicode_escape").decode("ascii")
