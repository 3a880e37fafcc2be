from __future__ import annotations

from typing import NoReturn

import attrs
import trio

from .._context import Context
from .._input import InputData


@attrs.define
class FailingExpert:
    """Raises `error_type(message)` on every call, after sleeping `delay_s` on the trio clock.

    The router records the failure (status ``failed``, cause ``"<ErrorType>: <message>"``)
    and answers with the other experts, or raises NoExpertSelected naming every cause.
    """

    name: str
    message: str = "injected failure"
    error_type: type[Exception] = RuntimeError
    delay_s: float = 0.0
    prefix: str = ""
    cost_units: float = 0.0
    domain: str = "testing"
    calls: int = attrs.field(default=0, init=False)

    def can_handle(self, task: str) -> bool:
        return task.startswith(self.prefix)

    async def infer(self, x: InputData, ctx: Context) -> NoReturn:
        self.calls += 1
        if self.delay_s > 0:
            await trio.sleep(self.delay_s)
        raise self.error_type(self.message)
