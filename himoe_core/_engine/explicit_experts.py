from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ..plugins.markers import hookimpl


class ExplicitExperts:
    """A plugin object that registers experts handed to HiMoE directly (no entry points)."""

    __name__ = "explicit"

    def __init__(self, experts: Iterable[Any]) -> None:
        self.experts = list(experts)

    @hookimpl
    def register_experts(self, register: Callable[[Any], None]) -> None:
        for expert in self.experts:
            register(expert)
