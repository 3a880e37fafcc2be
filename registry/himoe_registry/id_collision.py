"""The :class:`IdCollision` exception."""

from __future__ import annotations

from himoe_registry.registry_error import RegistryError


class IdCollision(RegistryError):
    """Two different names map to the same id.

    With the default 64-bit BLAKE2b ids this is astronomically unlikely, but
    when it happens silently routing to the wrong expert would be far worse
    than refusing to start.  Attributes: ``expert_id``, ``first_name``,
    ``first_source``, ``second_name``, ``second_source``, ``kind``.
    """

    def __init__(
        self,
        expert_id: int,
        first_name: str,
        first_source: str,
        second_name: str,
        second_source: str,
        kind: str = "expert",
    ) -> None:
        # Everything goes into args so the exception pickles across processes.
        super().__init__(expert_id, first_name, first_source, second_name, second_source, kind)

    @property
    def expert_id(self) -> int:
        """The id both names map to."""
        return self.args[0]  # type: ignore[no-any-return]

    @property
    def first_name(self) -> str:
        """The name already registered under the id."""
        return str(self.args[1])

    @property
    def first_source(self) -> str:
        """Who registered ``first_name``."""
        return str(self.args[2])

    @property
    def second_name(self) -> str:
        """The name whose registration was refused."""
        return str(self.args[3])

    @property
    def second_source(self) -> str:
        """Who tried to register ``second_name``."""
        return str(self.args[4])

    @property
    def kind(self) -> str:
        """What sort of thing the names denote, e.g. ``"expert"``."""
        return str(self.args[5])

    def __str__(self) -> str:
        return (
            f"{self.kind} id collision: {self.kind} {self.second_name!r} "
            f"(from {self.second_source!r}) has the same id {self.expert_id:016x} as "
            f"{self.kind} {self.first_name!r} (from {self.first_source!r}); "
            f"rename one of them"
        )
