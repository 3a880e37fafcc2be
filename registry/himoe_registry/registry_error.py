"""The :class:`RegistryError` base exception."""

from __future__ import annotations


class RegistryError(ValueError):
    """Base class for every error raised while registering names.

    A ``ValueError`` so callers that only care about "bad input" need no
    import from this package.
    """
