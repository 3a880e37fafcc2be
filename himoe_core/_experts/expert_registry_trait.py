from __future__ import annotations

from typing import Protocol, runtime_checkable

from himoe_registry import ExpertId

from .expert_ref import ExpertRef


@runtime_checkable
class ExpertRegistry(Protocol):
    """Deterministic lookup of experts by stable id or name."""

    def list(self) -> list[tuple[ExpertId, str]]:
        """Every known expert as (id, name), sorted by name."""
        ...

    def get_by_id(self, id: ExpertId) -> ExpertRef | None:
        """The expert with this stable id, or None."""
        ...

    def get_by_name(self, name: str) -> ExpertRef | None:
        """The expert with this name, or None."""
        ...
