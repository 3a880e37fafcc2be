from __future__ import annotations

import attrs
import trio

from .._context import Context
from .._experts.expert_aux import ExpertAux
from .._experts.expert_out import ExpertOut
from .._input import InputData
from .._value import Value


@attrs.define
class EchoExpert:
    """Answers `f"{reply_prefix}{text}"`, where text is the request's text (else its task hint),
    after sleeping `delay_s` on the trio clock — so that concurrent requests can be told apart.
    """

    name: str
    reply_prefix: str = "echo: "
    delay_s: float = 0.0
    prefix: str = ""
    confidence: float = 1.0
    cost_units: float = 0.0
    domain: str = "testing"
    calls: int = attrs.field(default=0, init=False)

    def can_handle(self, task: str) -> bool:
        return task.startswith(self.prefix)

    async def infer(self, x: InputData, ctx: Context) -> ExpertOut:
        self.calls += 1
        if self.delay_s > 0:
            await trio.sleep(self.delay_s)
        text = x.as_text()
        if text is None:
            text = x.task or ""
        return ExpertOut(
            Value.text(self.reply_prefix + text), ExpertAux(cost_units=self.cost_units, confidence=self.confidence)
        )
