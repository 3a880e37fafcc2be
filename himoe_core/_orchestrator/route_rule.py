from __future__ import annotations

from collections.abc import Iterable

import attrs

from .._input import InputData, InputKind


def _names(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(items)  # a named converter types the __init__ parameter for mypy's attrs plugin


@attrs.frozen
class RouteRule:
    """Send matching requests to `router`: matches on input kind and/or task prefix (the task
    hint, else the text); `fallbacks` are re-routed to in order, `shadows` run off the critical
    path."""

    router: str
    task_prefix: str | None = None
    input: InputKind | None = None
    fallbacks: tuple[str, ...] = attrs.field(default=(), converter=_names)
    shadows: tuple[str, ...] = attrs.field(default=(), converter=_names)

    def matches(self, x: InputData) -> bool:
        """Whether this rule applies to `x` (input kind and task prefix)."""
        if self.input is not None and x.kind is not self.input:
            return False
        if self.task_prefix is not None and not x.routing_key().lower().startswith(self.task_prefix.lower()):
            return False
        return True
