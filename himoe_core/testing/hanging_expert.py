from __future__ import annotations

from typing import NoReturn

import attrs
import trio

from .._context import Context
from .._input import InputData


@attrs.define
class HangingExpert:
    """Never answers: awaits ``trio.sleep_forever()``, so only the request's deadline or its
    CancelToken ends the call. `calls` counts calls started, `cancelled` those the router cut.
    """

    name: str
    prefix: str = ""
    cost_units: float = 0.0
    domain: str = "testing"
    calls: int = attrs.field(default=0, init=False)
    cancelled: int = attrs.field(default=0, init=False)

    def can_handle(self, task: str) -> bool:
        return task.startswith(self.prefix)

    async def infer(self, x: InputData, ctx: Context) -> NoReturn:
        self.calls += 1
        try:
            await trio.sleep_forever()
        except trio.Cancelled:
            self.cancelled += 1
            raise
