from __future__ import annotations

from collections.abc import Mapping

import attrs
from himoe_registry import normalize_dist_name

BUILTIN_NAME = "himoe"
"""The built-in plugin's identity: the core distribution's name (disable it like any other)."""


def _names(value: str) -> frozenset[str]:
    # "dist-a, dist-b" is how people write lists: spaces around a name are not part of it.
    return frozenset(normalize_dist_name(part.strip()) for part in value.split(",") if part.strip())


@attrs.frozen
class PluginSettings:
    """The plugin environment variables, parsed once.

    - ``HIMOE_LOAD_PLUGINS=dist-a,dist-b``: load only these third-party distributions
      (set but empty: none); built-ins are not affected.
    - ``HIMOE_DISABLE_PLUGINS=dist-a,himoe``: never load these, built-ins (``himoe``) included.
    - ``HIMOE_STRICT_PLUGINS=1``: a plugin that fails to load is an error, not a warning.
    - ``HIMOE_TRACE_PLUGINS=1``: trace every hook call on stderr (names, never argument values).
    """

    allow: frozenset[str] | None = None
    deny: frozenset[str] = frozenset()
    strict: bool = False
    trace: bool = False

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> PluginSettings:
        load = environ.get("HIMOE_LOAD_PLUGINS")
        return cls(
            allow=None if load is None else _names(load),
            deny=_names(environ.get("HIMOE_DISABLE_PLUGINS", "")),
            strict=_flag(environ.get("HIMOE_STRICT_PLUGINS")),
            trace=_flag(environ.get("HIMOE_TRACE_PLUGINS")),
        )

    def builtins_enabled(self) -> bool:
        return BUILTIN_NAME not in self.deny

    def allows(self, name: str) -> bool:
        """Whether a third-party plugin (distribution or plugins-folder file) may load."""
        name = normalize_dist_name(name)
        return (self.allow is None or name in self.allow) and name not in self.deny


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in {"1", "true", "yes", "on"}
