from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import attrs

from .call_outcome import CallOutcome
from .call_status import CallStatus

# Typed for mypy's attrs plugin (it types each __init__ parameter from the converter's signature);
# at run time the builtin itself, so building one on every request runs no Python frame.
if TYPE_CHECKING:
    from .._aggregator.aggregated_out import AggregatedOut
    from .._aggregator.mix_meta import MixMeta
    from .._aggregator.mixing import Calls
    from .gate_scores import GateScores

    def _outcomes(items: Iterable[CallOutcome]) -> tuple[CallOutcome, ...]: ...

else:
    _outcomes = tuple


@attrs.frozen
class FanoutResult:
    """Everything a fan-out learned: one outcome per pick, in pick order (the calls made, then
    those dropped before starting), and how long it took. `MixMeta.of` makes its telemetry."""

    outcomes: tuple[CallOutcome, ...] = attrs.field(converter=_outcomes)
    elapsed_ms: float = 0.0

    @property
    def failures(self) -> dict[str, str]:
        """Expert name → cause, for every pick that did not produce an output."""
        return {o.name: f"{o.status.value}: {o.cause}" for o in self.outcomes if o.status is not CallStatus.OK}

    def mix_meta(self, scores: GateScores, calls: Calls, answer: AggregatedOut, aggregator: str) -> MixMeta:
        """`MixMeta.of(self, ...)`, kept for routers written against it."""
        from .._aggregator.mix_meta import MixMeta

        return MixMeta.of(self, scores, calls, answer, aggregator)
