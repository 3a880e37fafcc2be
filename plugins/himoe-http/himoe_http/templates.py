"""Rendering a JSON request template and reading a value out of a JSON reply."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_PLACEHOLDER = re.compile(r"\{(text|task)\}")


def render_template(template: Any, values: Mapping[str, str]) -> Any:
    """A copy of `template` with "{text}" and "{task}" replaced in every string value (in one
    pass, so a substituted text that itself contains "{task}" is left as it is)."""
    if isinstance(template, str):
        return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)
    if isinstance(template, list):
        return [render_template(item, values) for item in template]
    if isinstance(template, Mapping):
        return {key: render_template(item, values) for key, item in template.items()}
    return template


def extract_path(data: Any, path: tuple[str, ...]) -> Any:
    """The value at a dot path (object keys, or list indexes such as "0"); a ValueError that
    says where the path broke off when it is not there."""
    current = data
    for depth, part in enumerate(path):
        here = ".".join(path[:depth]) or "the reply"
        if isinstance(current, dict):
            if part not in current:
                keys = ", ".join(sorted(map(str, current))[:8])
                raise ValueError(f"key {part!r} is missing at {here} (keys: {keys or 'none'})")
            current = current[part]
        elif isinstance(current, list):
            if not part.isdigit() or int(part) >= len(current):
                raise ValueError(f"{here} is a list of {len(current)} items, which has no item {part!r}")
            current = current[int(part)]
        else:
            raise ValueError(f"{here} is a {_json_type(current)}, not an object or list, so it has no {part!r}")
    return current


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "boolean", int: "number", float: "number", str: "string"}.get(type(value), type(value).__name__)
