"""The :class:`DuplicateName` exception."""

from __future__ import annotations

from himoe_registry.registry_error import RegistryError


class DuplicateName(RegistryError):
    """The same name was registered twice.

    Attributes ``name``, ``first_source`` (the one already registered),
    ``second_source`` (the one rejected) and ``kind`` (e.g. ``"expert"``).
    """

    def __init__(self, name: str, first_source: str, second_source: str, kind: str = "expert") -> None:
        # Everything goes into args so the exception pickles across processes.
        super().__init__(name, first_source, second_source, kind)

    @property
    def name(self) -> str:
        """The name registered twice."""
        return str(self.args[0])

    @property
    def first_source(self) -> str:
        """Who registered the name first (the registration that was kept)."""
        return str(self.args[1])

    @property
    def second_source(self) -> str:
        """Who tried to register it again (the registration that was refused)."""
        return str(self.args[2])

    @property
    def kind(self) -> str:
        """What sort of thing the name denotes, e.g. ``"expert"``."""
        return str(self.args[3])

    def __str__(self) -> str:
        return (
            f"{self.kind} {self.name!r} is registered twice: by {self.first_source!r} "
            f"and by {self.second_source!r}; rename one or disable one plugin "
            f"with HIMOE_DISABLE_PLUGINS"
        )
