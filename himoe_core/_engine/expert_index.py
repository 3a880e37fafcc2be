from __future__ import annotations

import bisect
from typing import Any

from .._errors import ConfigError
from .._experts.expert_info import expert_domain
from .._experts.expert_ref import ExpertRef

_SHOWN = 20
"""How many installed experts an error names before it says how many more there are."""


class ExpertIndex:
    """The installed experts indexed for config patterns, made once per build: by name, by
    domain, by plugin distribution, and sorted names for `prefix*` patterns. Selecting a
    router's experts then costs what it returns, not (patterns × experts): a config naming its
    10,000 experts one by one builds in linear time."""

    def __init__(self, registry: Any) -> None:
        self.refs: dict[str, ExpertRef] = {}
        self.by_domain: dict[str, list[str]] = {}
        self.by_plugin: dict[str, list[str]] = {}
        for eid, name, expert in registry.items():
            self.refs[name] = ExpertRef(eid, expert, name)
            self.by_domain.setdefault(expert_domain(expert), []).append(name)
            dist = (registry.source_of(name) or "").split("==")[0]
            self.by_plugin.setdefault(dist, []).append(name)
        self.names = list(self.refs)  # the registry lists in name order

    def match(self, pattern: str) -> list[str]:
        """The names a pattern selects: `*`, `domain:<d>`, `plugin:<dist>`, `<prefix>*` or a name."""
        if pattern == "*":
            return self.names
        if pattern.startswith("domain:"):
            return self.by_domain.get(pattern[7:], [])
        if pattern.startswith("plugin:"):
            return self.by_plugin.get(pattern[7:], [])
        if pattern.endswith("*"):
            prefix = pattern[:-1]
            start = bisect.bisect_left(self.names, prefix)
            end = start
            while end < len(self.names) and self.names[end].startswith(prefix):
                end += 1
            return self.names[start:end]
        return [pattern] if pattern in self.refs else []

    def select(self, patterns: list[str], where: str) -> list[ExpertRef]:
        """Experts by name, `domain:<d>`, `plugin:<dist>`, `<prefix>*` or `*`, in name order,
        without repeats."""
        chosen: set[str] = set()
        for pattern in patterns:
            matched = self.match(pattern)
            if not matched and pattern != "*":
                raise ConfigError(f"{where}: {pattern!r} matches no installed expert (experts: {self.known()})")
            chosen.update(matched)
        return [self.refs[name] for name in sorted(chosen)]

    def known(self) -> str:
        shown = ", ".join(self.names[:_SHOWN]) or "none installed"
        more = len(self.names) - _SHOWN
        return shown if more <= 0 else f"{shown}, … and {more} more (`himoe list-experts` lists them all)"
