from __future__ import annotations

from typing import Any

import attrs


@attrs.frozen
class Snapshot:
    """A model snapshot the learner published: its version, when (seconds since the epoch), and
    the router and expert state it holds, by id, each with its own version. Empty state: the
    replica already routes with this version (only the check's time is news)."""

    version: int
    published: float
    routers: dict[str, tuple[dict[str, Any], int]]
    experts: dict[str, tuple[dict[str, Any], int]]
