"""Helpers every aggregator shares: weights from gates, usable outputs, telemetry."""

from __future__ import annotations

import attrs
from himoe_registry import ExpertId

from ..errors import AggregationFailed, NoExpertSelected
from ..experts.expert_out import ExpertOut
from ..experts.expert_ref import ExpertRef
from ..router.call_status import CallStatus
from ..router.fanout_result import FanoutResult
from ..router.gate_scores import GateScores
from ..value import Value, convert
from .aggregated_out import AggregatedOut
from .mix_meta import MixMeta

Calls = list[tuple[ExpertRef, ExpertOut]]


def usable(calls: Calls, aggregator_id: str) -> Calls:
    """The calls to combine, best gate rank first: those with a value, or all if none has one."""
    if not calls:
        raise NoExpertSelected(f"aggregator {aggregator_id!r} received no successful output")
    with_value = [(ref, out) for ref, out in calls if not out.value.is_none()]
    return with_value or list(calls)


def ranked(calls: Calls, scores: GateScores) -> Calls:
    """Calls sorted by the gate's ranking (deterministic: the gate order is tie-broken)."""
    rank = scores.rank
    return sorted(calls, key=lambda call: rank(call[0].id))


def normalise_kinds(calls: Calls, aggregator_id: str) -> Calls:
    """Bring every value to the kind of the best-ranked one (text ↔ plan), or refuse."""
    target = calls[0][1].value.kind
    try:
        return [(ref, attrs.evolve(out, value=convert(out.value, target))) for ref, out in calls]
    except Exception:
        kinds = ", ".join(f"{ref.name}: {out.value.kind.value}" for ref, out in calls)
        raise AggregationFailed(
            f"{aggregator_id!r} cannot combine values of different kinds ({kinds}); "
            "use the best_score or confidence aggregator for mixed outputs"
        ) from None


def disagreement(calls: Calls, scores: GateScores, chosen: Value) -> float:
    """Share of gate×confidence weight on outputs that give another answer than the chosen
    value (answers compared by `Value.vote_key`)."""
    total = agree = 0.0
    answer = chosen.vote_key()
    for ref, out in calls:
        weight = scores.prob(ref.id) * out.aux.confidence
        total += weight
        if out.value.vote_key() == answer:
            agree += weight
    return 0.0 if total <= 0.0 else 1.0 - agree / total


def mix_meta(aggregator_id: str, calls: Calls, scores: GateScores, chosen: Value) -> MixMeta:
    return MixMeta(
        entropy=scores.entropy(),
        topk=len(calls),
        util_by_expert=scores.pairs(),
        disagreement=disagreement(calls, scores, chosen) if len(calls) > 1 else 0.0,
        cost_units=sum(out.aux.cost_units for _, out in calls),
        aggregator=aggregator_id,
    )


def single_choice(aggregator_id: str, calls: Calls, scores: GateScores, winner: tuple[ExpertRef, ExpertOut]) -> AggregatedOut:
    value = winner[1].value
    return AggregatedOut(value, mix_meta(aggregator_id, calls, scores, value), weights=[(winner[0].id, 1.0)])


def with_fanout(out: AggregatedOut, fanout: FanoutResult, picks: int) -> AggregatedOut:
    """Complete an aggregator's MixMeta with what only the fan-out knows."""
    mix = out.mix_info
    failures, drops, cost = [], 0, 0.0
    for o in fanout.outcomes:
        if o.out is not None:
            cost += o.out.aux.cost_units
        if o.status is not CallStatus.OK:
            failures.append((o.expert.name, f"{o.status.value}: {o.cause}"))
            drops += o.status is CallStatus.DROPPED or o.status is CallStatus.TIMED_OUT
    failures.sort()
    meta = MixMeta(entropy=mix.entropy, topk=picks, lat_total_ms=fanout.elapsed_ms, drop_count=drops,
                   util_by_expert=mix.util_by_expert, failures=failures, disagreement=mix.disagreement,
                   cost_units=cost, aggregator=mix.aggregator)
    if type(out) is AggregatedOut:
        return AggregatedOut(out.value, meta, out.weights)
    return attrs.evolve(out, mix_info=meta)  # an aggregator's own subclass keeps its type


def normalised_weights(pairs: list[tuple[ExpertId, float]]) -> list[tuple[ExpertId, float]]:
    total = sum(w for _, w in pairs)
    if total <= 0.0:
        return [(eid, 1.0 / len(pairs)) for eid, _ in pairs]
    return [(eid, w / total) for eid, w in pairs]

