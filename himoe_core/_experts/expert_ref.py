from __future__ import annotations

import attrs
from himoe_registry import ExpertId

from .expert_trait import Expert


@attrs.frozen
class ExpertRef:
    """A registered expert: its stable id, the expert itself, and its name (read once, when
    the reference is made)."""

    id: ExpertId
    handle: Expert = attrs.field(eq=False, repr=False)
    name: str = attrs.field(default=attrs.Factory(lambda ref: ref.handle.name, takes_self=True), eq=False)

    def __repr__(self) -> str:
        return f"ExpertRef({self.name!r}, {self.id})"
