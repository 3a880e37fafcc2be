from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from . import validation as v
from .http_expert_config import HttpExpertConfig


@attrs.frozen
class HttpPluginConfig:
    """The validated ``[plugins.himoe-http]`` table: the declared experts, in config order."""

    experts: tuple[HttpExpertConfig, ...] = ()

    @classmethod
    def parse(cls, config: Mapping[str, Any] | None) -> HttpPluginConfig:
        """Check the whole table; a ConfigError names the first bad key path."""
        if config is None:
            return cls()
        table = v.expect_table(v.ROOT, config)
        v.check_keys(v.ROOT, table, ("experts",), "the himoe-http plugin")
        experts_path = f"{v.ROOT}.experts"
        experts = v.expect_table(experts_path, table.get("experts", {}))
        return cls(tuple(HttpExpertConfig.parse(name, body) for name, body in experts.items()))

    def build_experts(self) -> list[Any]:
        """One expert per declared table: an OpenAIChatExpert or a JsonHttpExpert."""
        from ..experts.http.json_http_expert import JsonHttpExpert
        from ..experts.http.openai_chat_expert import OpenAIChatExpert

        classes = {"openai-chat": OpenAIChatExpert, "json": JsonHttpExpert}
        return [classes[expert.kind](expert) for expert in self.experts]
