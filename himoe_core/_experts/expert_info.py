from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
from himoe_registry import ExpertId

if TYPE_CHECKING:
    from .expert_trait import Expert

KINDS = ("text", "bytes", "features")
"""The input kinds an expert may declare in `input_kinds` (InputKind's values)."""


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


def declared(expert: object) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """What an expert declares it handles: its `handles` task prefixes and its `input_kinds`
    (each empty when not declared). The plugin host has already refused malformed ones."""
    handles = getattr(expert, "handles", None) or ()
    kinds = getattr(expert, "input_kinds", None) or ()
    return tuple(handles), tuple(kinds)


def accepts(expert: object, key: str, kind: str) -> bool:
    """Whether one expert takes a request, as a router decides it (declarations, then
    `can_handle`); False when its `can_handle` raises. For tools that ask about one expert."""
    handles, kinds = declared(expert)
    if handles or kinds:
        start = key.lstrip().lower()
        if not (kind in kinds or any(start.startswith(p.lower()) for p in handles)):
            return False
        if not callable(getattr(expert, "can_handle", None)):
            return True
    try:
        return bool(expert.can_handle(key))  # type: ignore[attr-defined]
    except Exception:
        return False


def check_declarations(expert: object) -> str | None:
    """What is wrong with an expert's `handles` / `input_kinds`, with the fix; None when fine."""
    handles = getattr(expert, "handles", None)
    kinds = getattr(expert, "input_kinds", None)
    if handles is not None and (
        isinstance(handles, str)
        or not isinstance(handles, (tuple, list))
        or not all(isinstance(p, str) and p.strip() for p in handles)
    ):
        return f'handles must be a tuple of non-empty task prefixes, e.g. ("math:",); got {handles!r}'
    if kinds is not None and (
        isinstance(kinds, str) or not isinstance(kinds, (tuple, list)) or not all(k in KINDS for k in kinds)
    ):
        return f"input_kinds must be a tuple of input kinds among {', '.join(map(repr, KINDS))}; got {kinds!r}"
    if not (handles or kinds) and not callable(getattr(expert, "can_handle", None)):
        return "an expert needs can_handle(task), or declares handles (task prefixes) or input_kinds"
    return None
