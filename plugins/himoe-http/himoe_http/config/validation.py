"""Strict checks of config values; every failure is a ConfigError naming the exact key path."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from himoe_core import ConfigError

from ..base_models.http.redaction import safe_url

ROOT = "plugins.himoe-http"

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
# RFC 9110 token: what a header name may be made of.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
PLACEHOLDERS = ("text", "task")


def key_path(parent: str, key: str) -> str:
    """`parent.key`, quoting `key` as TOML does when it is not a bare key."""
    if not _BARE_KEY.fullmatch(key):
        key = '"' + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{parent}.{key}"


def fail(path: str, message: str) -> ConfigError:
    return ConfigError(f"{path}: {message}")


def expect_table(path: str, value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise fail(path, f"expected a table, got {_shown(value)}")
    for key in value:
        if not isinstance(key, str):
            raise fail(path, f"table keys must be strings, got {key!r}")
    return value


def check_keys(path: str, table: Mapping[str, Any], allowed: Iterable[str], what: str) -> None:
    allowed = sorted(allowed)
    for key in table:
        if key not in allowed:
            close = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise fail(key_path(path, key), f"unknown key for {what}; {hint}known keys: {', '.join(allowed)}")


def require(path: str, table: Mapping[str, Any], key: str, what: str) -> Any:
    if key not in table:
        raise fail(key_path(path, key), f"required key is missing; expected {what}")
    return table[key]


def expect_str(path: str, value: Any, *, non_empty: bool = True) -> str:
    if not isinstance(value, str):
        raise fail(path, f"expected a string, got {_shown(value)}")
    if non_empty and not value.strip():
        raise fail(path, "expected a non-empty string, got ''")
    return value


def expect_number(
    path: str, value: Any, *, minimum: float = 0.0, maximum: float = math.inf, strictly_positive: bool = False
) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise fail(path, f"expected a number, got {_shown(value)}")
    if strictly_positive and not value > 0:
        raise fail(path, f"expected a number > 0, got {value!r}")
    if not minimum <= value <= maximum:
        bound = f"in [{minimum:g}, {maximum:g}]" if math.isfinite(maximum) else f">= {minimum:g}"
        raise fail(path, f"expected a number {bound}, got {value!r}")
    return float(value)


def expect_int(path: str, value: Any, *, minimum: int = 0, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(path, f"expected an integer, got {_shown(value)}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"in [{minimum}, {maximum}]" if maximum is not None else f">= {minimum}"
        raise fail(path, f"expected an integer {bound}, got {value!r}")
    return value


def expect_http_url(path: str, value: Any) -> str:
    # Shown through safe_url: a URL wrong for one reason may carry a secret for another.
    if not isinstance(value, str):
        raise fail(path, f"expected an http(s) URL, got {_shown(value)}")
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        raise fail(path, f"expected an http(s) URL, got {safe_url(value)!r}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in value):
        raise fail(path, f"expected an http(s) URL, got {safe_url(value)!r}")
    if parts.username is not None or parts.password is not None:
        raise fail(
            path, "credentials in the URL are not allowed; put the key in the environment variable named by api_key_env"
        )
    return value


def expect_prefixes(path: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise fail(path, f'expected a non-empty list of task prefixes such as ["chat:"], got {_shown(value)}')
    prefixes = []
    for index, item in enumerate(value):
        item_path = f"{path}[{index}]"
        if not isinstance(item, str) or not item.strip():
            raise fail(item_path, f"expected a non-empty string, got {_shown(item)}")
        if "\n" in item:
            raise fail(item_path, f"a task prefix is one line, got {item!r}")
        prefixes.append(item.strip())
    return tuple(prefixes)


def expect_env_name(path: str, value: Any) -> str:
    if not isinstance(value, str) or not _ENV_NAME.fullmatch(value):
        # Never shown: what is pasted here by mistake is usually the key itself.
        raise fail(
            path,
            "expected the name of an environment variable such as 'LOCAL_LLM_KEY' (letters, digits, "
            "'_'), got something else, not shown here in case it is the key itself: give the "
            "variable's name, and put the key in that variable",
        )
    return value


def expect_header_name(path: str, value: Any) -> str:
    value = expect_str(path, value)
    if not _HEADER_NAME.fullmatch(value):
        raise fail(path, f"expected an HTTP header name such as 'Authorization', got {value!r}")
    return value


def expect_headers(path: str, value: Any) -> tuple[tuple[str, str], ...]:
    table = expect_table(path, value)
    headers = []
    for name, header_value in table.items():
        item_path = key_path(path, name)
        if not _HEADER_NAME.fullmatch(name):
            raise fail(item_path, f"not a valid HTTP header name: {name!r}")
        if not isinstance(header_value, str):  # its value is not shown: headers carry tokens
            raise fail(item_path, f"expected a string, got a value of type {type(header_value).__name__}")
        if "\r" in header_value or "\n" in header_value:
            raise fail(item_path, "a header value cannot contain line breaks")
        headers.append((name, header_value))
    return tuple(headers)


def expect_template(path: str, value: Any) -> dict[str, Any]:
    """A JSON-able table whose strings may hold the {text} and {task} placeholders only."""
    return dict(expect_table(path, _check_template(path, expect_table(path, value))))


def _check_template(path: str, value: Any) -> Any:
    if isinstance(value, str):
        for name in _PLACEHOLDER.findall(value):
            if name not in PLACEHOLDERS:
                raise fail(path, f"unknown placeholder {{{name}}}; only {{text}} and {{task}} are substituted")
        return value
    if isinstance(value, bool) or value is None or isinstance(value, int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise fail(path, f"expected a finite number, got {value!r}")
        return value
    if isinstance(value, list):
        return [_check_template(f"{path}[{index}]", item) for index, item in enumerate(value)]
    if isinstance(value, Mapping):
        table = expect_table(path, value)
        return {key: _check_template(key_path(path, key), item) for key, item in table.items()}
    raise fail(path, f"expected a JSON value (string, number, boolean, array or table), got {_shown(value)}")


def expect_response_path(path: str, value: Any) -> tuple[str, ...]:
    value = expect_str(path, value)
    parts = tuple(value.split("."))
    if any(not part for part in parts):
        raise fail(path, f"expected a dot path such as 'result.label' or 'choices.0.text', got {value!r}")
    return parts


def _shown(value: Any) -> str:
    """How a wrong value is named in a message: its type, and its repr when short."""
    text = repr(value)
    kind = type(value).__name__
    return f"{kind} {text}" if len(text) <= 60 else kind
