"""The decision record: what a router decided for a request and what came of it."""

from .decision import Decision

__all__ = ["Decision"]
