from __future__ import annotations


def is_plain(text: str) -> bool:
    """Printable ASCII without a space: safe as one field of a log line, or as a header value."""
    return text.isascii() and text.isprintable() and " " not in text


def log_text(text: str) -> str:
    """`text` as one field of a log line: a client's path or trace id with a newline or other
    control character, which could forge a line of its own, or with a space, which could forge
    the fields after it, is escaped."""
    if is_plain(text):
        return text
    return text.encode("unicode_escape").decode("ascii").replace(" ", "\\x20")
