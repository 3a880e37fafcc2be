"""A benchmark expert that never returns, to show the deadline cuts it."""

from __future__ import annotations

import trio


class HangingExpert:
    """Sleeps forever; only the request's deadline (or cancellation) ends its call."""

    domain = "benchmark"

    def __init__(self, name: str = "hanging") -> None:
        self.name = name

    def can_handle(self, task: str) -> bool:
        return True

    async def infer(self, x, ctx):
        await trio.sleep_forever()
