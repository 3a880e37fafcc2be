"""A benchmark expert that answers at once: one trio checkpoint, then a prebuilt Value."""

from __future__ import annotations

import trio

from himoe_core import Value


class NoopExpert:
    """Answers immediately with a fixed text value (one checkpoint, like the baseline coroutine)."""

    domain = "benchmark"

    def __init__(self, name: str) -> None:
        self.name = name
        self.answer = Value.text(name)

    def can_handle(self, task: str) -> bool:
        return True

    async def infer(self, x, ctx) -> Value:
        await trio.lowlevel.checkpoint()
        return self.answer
