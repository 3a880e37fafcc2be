"""The :class:`InvalidName` exception."""

from __future__ import annotations

from himoe_registry.registry_error import RegistryError


class InvalidName(RegistryError):
    """A name does not follow the naming rules (see ``validate_name``).

    ``value`` holds the rejected object, whatever its type.
    """

    def __init__(self, message: str, value: object = None) -> None:
        # Everything goes into args so the exception pickles across processes.
        super().__init__(message, value)

    @property
    def message(self) -> str:
        """The human-readable explanation."""
        return str(self.args[0])

    @property
    def value(self) -> object:
        """The rejected name."""
        return self.args[1]

    def __str__(self) -> str:
        return self.message
