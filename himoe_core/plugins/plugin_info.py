from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen
class PluginInfo:
    """What `himoe plugins` shows about one plugin: where it came from and what it did."""

    name: str
    dist_name: str | None = None
    version: str | None = None
    origin: str = "entry-point"  # "entry-point" | "directory" | "builtin" | "object"
    hooks: tuple[str, ...] = ()
    error: str | None = None

    @property
    def label(self) -> str:
        """`dist-name==1.2.3`, or the plugin name when it has no distribution."""
        if self.dist_name and self.version:
            return f"{self.dist_name}=={self.version}"
        return self.dist_name or self.name

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_jsonable(self) -> dict[str, Any]:
        """The `himoe plugins --json` entry."""
        return {
            "name": self.name,
            "distribution": self.dist_name,
            "version": self.version,
            "origin": self.origin,
            "hooks": list(self.hooks),
            "error": self.error,
        }
