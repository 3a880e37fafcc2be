from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
from himoe_registry import ExpertId

if TYPE_CHECKING:
    from .expert_trait import Expert


@attrs.frozen
class ExpertInfo:
    """What `himoe list-experts` shows about one registered expert."""

    id: ExpertId
    name: str
    domain: str
    plugin: str  # the registering plugin's distribution (or name)
    version: str | None
    description: str
    example: str | None = None

    @classmethod
    def describe(cls, expert_id: ExpertId, expert: Expert, plugin: str, version: str | None) -> ExpertInfo:
        return cls(
            expert_id,
            expert.name,
            expert_domain(expert),
            plugin,
            version,
            expert_description(expert),
            expert_example(expert),
        )

    def to_jsonable(self) -> dict[str, Any]:
        """The `himoe list-experts --json` entry."""
        return {
            "id": str(self.id),
            "name": self.name,
            "domain": self.domain,
            "plugin": self.plugin,
            "version": self.version,
            "description": self.description,
            "example": self.example,
        }


def expert_domain(expert: object) -> str:
    """The expert's `domain` attribute, else the folder under `experts/` its class lives in."""
    domain = getattr(expert, "domain", None)
    if isinstance(domain, str) and domain:
        return domain
    parts = type(expert).__module__.split(".")
    if "experts" in parts:
        index = parts.index("experts")
        if index + 2 < len(parts):
            return parts[index + 1]
    return "general"


def expert_description(expert: object) -> str:
    """The expert's `description` attribute, else the first line of its class docstring."""
    description = getattr(expert, "description", None)
    if not isinstance(description, str) or not description.strip():
        description = type(expert).__doc__ or ""
    return description.strip().splitlines()[0].strip() if description.strip() else ""


def expert_example(expert: object) -> str | None:
    """The expert's `example` attribute (one request it handles), else None."""
    example = getattr(expert, "example", None)
    if not isinstance(example, str) or not example.strip():
        return None
    return example.strip().splitlines()[0].strip()
