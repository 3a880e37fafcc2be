"""Keeping secrets out of messages and results, and messages on one line."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

REDACTED = "***"
_USERINFO = re.compile(r"(//)[^/?#]*@")


def _listed(secret: str | Sequence[str] | None) -> list[str]:
    """The secrets, longest first (a secret inside another is masked with it)."""
    items = [secret] if isinstance(secret, str) else list(secret or ())
    return sorted((item for item in items if item), key=len, reverse=True)


def redact(text: str, secret: str | Sequence[str] | None) -> str:
    """`text` with every occurrence of each secret replaced by ``***``."""
    for item in _listed(secret):
        if item in text:
            text = text.replace(item, REDACTED)
    return text


def redact_json(data: Any, secret: str | Sequence[str] | None) -> Any:
    """A copy of parsed JSON with the secrets removed from every string, keys included."""
    if not _listed(secret):
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


def snippet(body: bytes, secret: str | Sequence[str] | None, limit: int = 160) -> str:
    """A short, one-line, secret-free rendering of a reply body for an error message.

    The body is cut before it is shown, and a cut may fall inside the secret: a tail that could
    be the start of it is masked too, or whitespace collapsing would bring it into view."""
    text = redact(body[: limit * 4].decode("utf-8", errors="replace"), secret)
    for item in _listed(secret):
        for size in range(min(len(item), len(text)), 0, -1):
            if text.endswith(item[:size]):
                text = text[:-size] + REDACTED
                break
    return one_line(text, limit)


def safe_url(url: str) -> str:
    """`url` as it may be shown: credentials (`user:pass@`) and query values (`?key=…`) masked,
    whatever else is wrong with it — a message about a bad port must not print the password."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:  # unparsable: mask by pattern, everything after the path
        text = _USERINFO.sub(r"\1" + REDACTED + "@", url)
        return re.split(r"[?#]", text, maxsplit=1)[0] + ("?" + REDACTED if re.search(r"[?#]", text) else "")
    netloc = parts.netloc
    if "@" in netloc:
        netloc = REDACTED + "@" + (f"[{host}]" if ":" in host else host) + (f":{port}" if port is not None else "")
    query = (
        "&".join(f"{pair.partition('=')[0]}={REDACTED}" if "=" in pair else REDACTED for pair in parts.query.split("&"))
        if parts.query
        else ""
    )
    return urlunsplit((parts.scheme, netloc, parts.path, query, REDACTED if parts.fragment else ""))


def url_secrets(url: str) -> list[str]:
    """The parts of `url` that may be secret: its user info and its query values."""
    found: list[str] = []
    match = _USERINFO.search(url)
    if match:
        found.extend(part for part in match.group(0)[2:-1].split(":") if part)
    query = re.split(r"[?]", url, maxsplit=1)[1] if "?" in url else ""
    for pair in query.split("#")[0].split("&"):
        value = pair.partition("=")[2]
        if value:
            found.append(value)
    return found


def redact_url_in_log_record(record: Any) -> bool:
    """A logging filter for httpx's logger: its request lines show the URL, query included."""
    if isinstance(record.args, tuple) and any(type(arg).__name__ == "URL" for arg in record.args):
        record.args = tuple(safe_url(str(arg)) if type(arg).__name__ == "URL" else arg for arg in record.args)
    return True
