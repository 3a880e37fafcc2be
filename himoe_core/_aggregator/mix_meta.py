from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import attrs
from himoe_registry import ExpertId

from .._router.call_status import CallStatus
from .._value.value_kind import ValueKind

if TYPE_CHECKING:
    from .._router.fanout_result import FanoutResult
    from .._router.gate_scores import GateScores
    from .._value.value import Value
    from .aggregated_out import AggregatedOut
    from .mixing import Calls

# Typed for mypy's attrs plugin (it types each __init__ parameter from the converter's signature);
# at run time the builtin itself, so building one on every request runs no Python frame.
if TYPE_CHECKING:

    def _weights(items: Iterable[tuple[ExpertId, float]]) -> tuple[tuple[ExpertId, float], ...]: ...

    def _failures(items: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]: ...

else:
    _weights = _failures = tuple


@attrs.frozen
class MixMeta:
    """Telemetry of one mixture step.

    `entropy` of the gate (nats), `topk` experts picked, `lat_total_ms` wall time of the
    fan-out, `drop_count` experts dropped or cut for time/budget, `util_by_expert` the gate weight
    each candidate received (load-balance input), `failures` expert → cause, `disagreement`
    among successful outputs (0 = all agree, None = not measured), `cost_units` spent.
    """

    entropy: float = 0.0
    topk: int = 0
    lat_total_ms: float = 0.0
    drop_count: int = 0
    util_by_expert: tuple[tuple[ExpertId, float], ...] = attrs.field(default=(), converter=_weights)
    failures: tuple[tuple[str, str], ...] = attrs.field(default=(), converter=_failures)
    disagreement: float | None = None
    cost_units: float = 0.0
    aggregator: str = ""

    @classmethod
    def of(
        cls, fanout: FanoutResult, scores: GateScores, calls: Calls, answer: AggregatedOut, aggregator: str
    ) -> MixMeta:
        """The telemetry of a fan-out, made once: the gate's entropy and load, what the calls
        cost and how long they took, which failed or were cut, and how much the outputs that
        were combined disagreed."""
        failures, drops, cost = [], 0, 0.0
        for o in fanout.outcomes:
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
        return cls(
            entropy=scores.entropy(),
            topk=len(fanout.outcomes),
            lat_total_ms=fanout.elapsed_ms,
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
