from __future__ import annotations


def log_text(text: str) -> str:
    """`text` as one field of a log line: a client's path or trace id with a newline or other
    control character, which could forge a line of its own, or with a space, which could forge
    the fields after it, is escaped."""
    if text.isascii() and text.isprintable() and " " not in text:
        return text
    return text.encode("unicode_escape").decode("ascii").replace(" ", "\\x20")
