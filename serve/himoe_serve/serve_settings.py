from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

import attrs

from himoe_core import ConfigError


@attrs.frozen
class ServeSettings:
    """How `himoe serve` listens and what it admits: the `[serve]` config table, with command-line
    overrides (see docs/serving.md)."""

    host: str = "127.0.0.1"
    port: int = 8000
    keys_file: str | None = None
    max_body_bytes: int = 1 << 20
    max_in_flight: int = 0
    body_timeout_s: float = 10.0
    otel: bool = False
    otel_exporter: str = "console"
    allow_public_without_keys: bool = False

    @classmethod
    def from_config(cls, config: Mapping[str, Any], **overrides: Any) -> ServeSettings:
        """From a checked config's `serve` table (`load_config` validated it); an override of
        None keeps the config's value."""
        table = dict(config.get("serve", {}))
        table.update({key: value for key, value in overrides.items() if value is not None})
        known = {field.name for field in attrs.fields(cls)}
        return cls(**{key: value for key, value in table.items() if key in known})

    def is_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host.strip("[]")).is_loopback
        except ValueError:
            return False

    def check_exposure(self, has_keys: bool) -> None:
        """Refuse to listen beyond loopback without keys unless told so explicitly."""
        if not has_keys and not self.is_loopback() and not self.allow_public_without_keys:
            raise ConfigError(
                f"serve.host: {self.host!r} is reachable from other machines and no API key is set; "
                "set HIMOE_API_KEYS or [serve] keys_file, or set [serve] allow_public_without_keys = true "
                "(--allow-public-without-keys) to serve without keys"
            )

    @property
    def bind(self) -> str:
        host = f"[{self.host}]" if ":" in self.host and not self.host.startswith("[") else self.host
        return f"{host}:{self.port}"
