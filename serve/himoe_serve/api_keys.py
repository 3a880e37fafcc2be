from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping
from pathlib import Path

from himoe_core import ConfigError


class ApiKeys:
    """The API keys a server accepts, compared in constant time; never shown.

    Keys come from ``HIMOE_API_KEYS`` (comma-separated) and from a keys file (one key a line,
    ``#`` comments and blank lines ignored). Only their SHA-256 digests are kept: comparing
    digests of equal length with `hmac.compare_digest`, over every key, takes the same time
    whichever key — or how much of one — matched.
    """

    __slots__ = ("_digests", "sources")

    def __init__(self, keys: list[str], sources: tuple[str, ...] = ()) -> None:
        self._digests = tuple(hashlib.sha256(k.encode("utf-8")).digest() for k in keys)
        self.sources = sources

    @classmethod
    def load(cls, keys_file: str | None, environ: Mapping[str, str] | None = None) -> ApiKeys:
        environ = os.environ if environ is None else environ
        keys = [k.strip() for k in environ.get("HIMOE_API_KEYS", "").split(",") if k.strip()]
        sources: tuple[str, ...] = ("HIMOE_API_KEYS",) if keys else ()
        if keys_file:
            try:
                text = Path(keys_file).read_text(encoding="utf-8")
            except OSError as exc:
                raise ConfigError(f"serve.keys_file: cannot read {keys_file!r}: {exc.strerror}") from None
            from_file = [
                line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")
            ]
            if not from_file:
                raise ConfigError(f"serve.keys_file: {keys_file!r} holds no key (one key a line)")
            keys += from_file
            sources += (keys_file,)
        for key in keys:
            if any(c.isspace() or not c.isprintable() for c in key):
                raise ConfigError(
                    "an API key holds a space or a control character (keys are not shown); "
                    "use printable keys without spaces"
                )
        return cls(keys, sources)

    def __bool__(self) -> bool:
        return bool(self._digests)

    def __len__(self) -> int:
        return len(self._digests)

    def __repr__(self) -> str:
        return f"ApiKeys({len(self._digests)} keys from {', '.join(self.sources) or 'nowhere'})"

    def accepts(self, authorization: bytes | None) -> bool:
        """Whether an ``Authorization`` header value carries one of the keys as a Bearer token."""
        if authorization is None:
            return False
        scheme, _, token = authorization.partition(b" ")
        if scheme.lower() != b"bearer":
            return False
        offered = hashlib.sha256(token.strip()).digest()
        matched = False
        for digest in self._digests:
            matched |= hmac.compare_digest(digest, offered)
        return matched
