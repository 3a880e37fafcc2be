"""A benchmark expert that stands for I/O: it sleeps on the trio clock, then answers."""

from __future__ import annotations

import trio

from himoe_core import Value


class SleepExpert:
    """Sleeps `seconds` (never blocking the loop), then answers with a fixed text value."""

    domain = "benchmark"

    def __init__(self, name: str, seconds: float) -> None:
        self.name = name
        self.seconds = seconds
        self.answer = Value.text(name)

    def can_handle(self, task: str) -> bool:
        return True

    async def infer(self, x, ctx) -> Value:
        await trio.sleep(self.seconds)
        return self.answer
