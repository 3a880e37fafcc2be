from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import attrs
from himoe_registry import ExpertId

from .._aggregator.mix_meta import MixMeta
from .._value.value_kind import ValueKind
from .call_outcome import CallOutcome
from .call_status import CallStatus

if TYPE_CHECKING:
    from .._aggregator.aggregated_out import AggregatedOut
    from .._aggregator.mixing import Calls
    from .._value.value import Value
    from .gate_scores import GateScores


def _outcomes(items: Iterable[CallOutcome]) -> tuple[CallOutcome, ...]:
    return tuple(items)  # a named converter types the __init__ parameter for mypy's attrs plugin


@attrs.frozen
class FanoutResult:
    """Everything a fan-out learned: one outcome per pick, in pick order (the calls made, then
    those dropped before starting), and how long it took."""

    outcomes: tuple[CallOutcome, ...] = attrs.field(converter=_outcomes)
    elapsed_ms: float = 0.0

    @property
    def failures(self) -> dict[str, str]:
        """Expert name → cause, for every pick that did not produce an output."""
        return {o.name: f"{o.status.value}: {o.cause}" for o in self.outcomes if o.status is not CallStatus.OK}

    def mix_meta(self, scores: GateScores, calls: Calls, answer: AggregatedOut, aggregator: str) -> MixMeta:
        """The telemetry of this mixture step, made once: the gate's entropy and load, what the
        calls cost and how long they took, which failed or were cut, and how much the outputs
        that were combined disagreed."""
        failures, drops, cost = [], 0, 0.0
        for o in self.outcomes:
            if o.out is not None:
                cost += o.out.aux.cost_units
            if o.status is not CallStatus.OK:
                failures.append((o.name, f"{o.status.value}: {o.cause}"))
                drops += o.status is CallStatus.DROPPED or o.status is CallStatus.TIMED_OUT
        failures.sort()
        gate = scores.pairs()
        spread = answer.disagreement
        if spread is None:
            spread = disagreement(calls, dict(gate), answer.value) if len(calls) > 1 else 0.0
        return MixMeta(
            entropy=scores.entropy(),
            topk=len(self.outcomes),
            lat_total_ms=self.elapsed_ms,
            drop_count=drops,
            util_by_expert=gate,
            failures=failures,
            disagreement=spread,
            cost_units=cost,
            aggregator=aggregator,
        )


def disagreement(calls: Calls, gate: Mapping[ExpertId, float], chosen: Value) -> float:
    """Share of gate × confidence weight on outputs that give another answer than the chosen
    value (answers compared by `Value.vote_key`: only JSON values have a key of their own)."""
    total = agree = 0.0
    answer = chosen.vote_key() if chosen.kind is ValueKind.JSON else chosen
    for ref, out in calls:
        weight = gate.get(ref.id, 0.0) * out.aux.confidence
        total += weight
        value = out.value
        if (value.vote_key() if value.kind is ValueKind.JSON else value) == answer:
            agree += weight
    return 0.0 if total <= 0.0 else 1.0 - agree / total
