from __future__ import annotations

import attrs
from himoe_registry import ExpertId

from .expert_trait import Expert


@attrs.frozen
class ExpertRef:
    """A registered expert: its stable id and the expert itself."""

    id: ExpertId
    handle: Expert = attrs.field(eq=False, repr=False)

    @property
    def name(self) -> str:
        return self.handle.name

    def __repr__(self) -> str:
        return f"ExpertRef({self.handle.name!r}, {self.id})"
