"""Helpers the aggregators share: usable outputs, gate ranking, kinds, normalised weights."""

from __future__ import annotations

import attrs
from himoe_registry import ExpertId

from .._errors import AggregationFailed, NoExpertSelected
from .._experts.expert_out import ExpertOut
from .._experts.expert_ref import ExpertRef
from .._router.gate_scores import GateScores
from .._value import convert

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


def normalised_weights(pairs: list[tuple[ExpertId, float]]) -> list[tuple[ExpertId, float]]:
    total = sum(w for _, w in pairs)
    if total <= 0.0:
        return [(eid, 1.0 / len(pairs)) for eid, _ in pairs]
    return [(eid, w / total) for eid, w in pairs]
