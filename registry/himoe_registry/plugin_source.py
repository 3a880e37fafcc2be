"""The :class:`PluginSource` record."""

from __future__ import annotations

import types

import attrs

ORIGINS = ("entry-point", "directory")


@attrs.frozen
class PluginSource:
    """One plugin that discovery tried to import, and how that went.

    A failed import is data, not an exception: ``error`` holds one line
    (``"ExceptionType: message"``), ``traceback`` the full text and
    ``module`` is None.  Equality and ``repr`` ignore ``module`` and
    ``traceback`` so records compare by what they describe.
    """

    #: Entry-point name, or file stem for a directory plugin.
    name: str
    #: Distribution that declared the entry point; None for directory plugins.
    dist_name: str | None
    #: That distribution's version; None for directory plugins or when unknown.
    version: str | None
    #: ``"entry-point"`` or ``"directory"``.
    origin: str = attrs.field(validator=attrs.validators.in_(ORIGINS))
    #: The imported module; None if the import failed.
    module: types.ModuleType | None = attrs.field(default=None, eq=False, repr=False)
    #: One-line ``"ExceptionType: message"``; None on success.
    error: str | None = None
    #: Full formatted traceback of the failure; None on success.
    traceback: str | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def ok(self) -> bool:
        """True when the plugin imported without error."""
        return self.error is None

    @property
    def label(self) -> str:
        """``"dist-name 1.2.3"`` for use in messages; the plugin name when there is no dist."""
        if self.dist_name is None:
            return self.name
        if self.version is None:
            return self.dist_name
        return f"{self.dist_name} {self.version}"
