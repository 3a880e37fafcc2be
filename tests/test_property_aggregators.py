"""Property-based tests of aggregation: for any set of successful calls, gate probabilities and
confidences, each built-in aggregator respects the weights it documents; and end to end, an
expert whose call failed, hung or was dropped never counts in the answer."""

from __future__ import annotations

import numpy as np
import pytest
import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from himoe_core import ExpertAux, ExpertOut, HiMoE, NoExpertSelected, Value
from himoe_core.routing import (
    BestScoreAggregator,
    ConfidenceAggregator,
    ExpertRef,
    GatingPolicy,
    WeightedMeanAggregator,
    WeightedVoteAggregator,
    gate_with_policy,
    stable_id,
)
from himoe_core.testing import ConstantExpert, FailingExpert, HangingExpert, MalformedExpert

SETTINGS = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


class Named:
    def __init__(self, name: str) -> None:
        self.name = name


@st.composite
def fanouts(draw, values=st.sampled_from(["a", "b", "c", None])):  # noqa: B008 (a strategy, built once)
    """(calls, scores): 1–6 successful calls over candidates that may include experts that did
    not answer, with arbitrary gate logits, ε and confidences."""
    n = draw(st.integers(1, 8))
    names = [f"e{i}" for i in range(n)]
    ids = [stable_id(name) for name in names]
    logits = draw(st.lists(st.floats(-20, 20), min_size=n, max_size=n))
    scores = gate_with_policy(ids, logits, GatingPolicy(epsilon=draw(st.floats(0, 1)), seed=draw(st.integers(0, 9))))
    answered = draw(st.lists(st.sampled_from(range(n)), min_size=1, max_size=n, unique=True))
    calls = []
    for i in answered:
        value = draw(values)
        out = ExpertOut(
            Value.none() if value is None else Value.text(value) if isinstance(value, str) else value,
            ExpertAux(confidence=draw(st.floats(0, 1))),
        )
        calls.append((ExpertRef(ids[i], Named(names[i])), out))
    return calls, scores


def weight(call, scores) -> float:
    ref, out = call
    return scores.prob(ref.id) * out.aux.confidence


@SETTINGS
@given(fanout=fanouts())
def test_best_score_answers_with_the_best_gated_expert_that_gave_a_value(fanout):
    calls, scores = fanout
    out = BestScoreAggregator().combine(calls, scores)
    with_value = [c for c in calls if not c[1].value.is_none()] or calls
    best = max(with_value, key=lambda c: (scores.prob(c[0].id), -scores.ids.index(c[0].id)))
    assert out.value == best[1].value
    assert out.weights == ((best[0].id, 1.0),)


@SETTINGS
@given(fanout=fanouts())
def test_confidence_answers_with_the_most_confident_expert(fanout):
    calls, scores = fanout
    out = ConfidenceAggregator().combine(calls, scores)
    with_value = [c for c in calls if not c[1].value.is_none()] or calls
    top = max(c[1].aux.confidence for c in with_value)
    winners = [c for c in with_value if c[1].aux.confidence == top]
    first = min(winners, key=lambda c: scores.ids.index(c[0].id))
    assert out.value == first[1].value
    assert len(out.weights) == 1 and out.weights[0][1] == 1.0


@SETTINGS
@given(fanout=fanouts())
def test_weighted_vote_gives_the_heaviest_pool_and_normalised_weights(fanout):
    calls, scores = fanout
    out = WeightedVoteAggregator().combine(calls, scores)
    with_value = [c for c in calls if not c[1].value.is_none()] or calls
    pooled: dict = {}
    for call in with_value:
        pooled[call[1].value] = pooled.get(call[1].value, 0.0) + weight(call, scores)
    assert pooled[out.value] == pytest.approx(max(pooled.values()), rel=1e-9, abs=1e-300)
    voters = {c[0].id for c in with_value if c[1].value == out.value}
    assert {eid for eid, _ in out.weights} == voters
    assert sum(w for _, w in out.weights) == pytest.approx(1.0)
    assert all(w >= 0 for _, w in out.weights)
    assert 0.0 <= out.disagreement <= 1.0 + 1e-12


@SETTINGS
@given(
    fanout=fanouts(
        values=st.integers(1, 4).flatmap(
            lambda d: st.lists(st.floats(-100, 100), min_size=d, max_size=d).map(
                lambda v: Value.embedding(np.array(v, dtype=np.float32))
            )
        )
    )
)
def test_weighted_mean_is_the_gate_times_confidence_weighted_mean(fanout):
    calls, scores = fanout
    sizes = {c[1].value.data.shape[0] for c in calls}
    if len(sizes) > 1:
        with pytest.raises(Exception, match="embeddings of one size"):
            WeightedMeanAggregator().combine(calls, scores)
        return
    out = WeightedMeanAggregator().combine(calls, scores)
    raw = np.array([weight(c, scores) for c in calls])
    weights = raw / raw.sum() if raw.sum() > 0 else np.full(len(calls), 1.0 / len(calls))
    expected = weights @ np.stack([c[1].value.data.astype(np.float64) for c in calls])
    np.testing.assert_allclose(out.value.data, expected.astype(np.float32), rtol=1e-5, atol=1e-3)
    assert sum(w for _, w in out.weights) == pytest.approx(1.0)


@pytest.mark.parametrize(
    "aggregator", [BestScoreAggregator(), ConfidenceAggregator(), WeightedVoteAggregator(), WeightedMeanAggregator()]
)
def test_no_successful_call_is_no_expert_selected(aggregator):
    scores = gate_with_policy([stable_id("a")], [0.0], GatingPolicy())
    with pytest.raises(NoExpertSelected, match="received no successful output"):
        aggregator.combine([], scores)


# -- end to end: failures never count ---------------------------------------------------------------------------
FATES = {
    "ok": lambda name, value: ConstantExpert(name, value=value),
    "raises": lambda name, value: FailingExpert(name),
    "hangs": lambda name, value: HangingExpert(name),
    "malformed": lambda name, value: MalformedExpert(name, "nan_json"),
    "dear": lambda name, value: ConstantExpert(name, value=value, cost_units=1e9),  # dropped by the cost budget
}


@settings(max_examples=80, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    fates=st.lists(st.sampled_from(sorted(FATES)), min_size=1, max_size=6),
    aggregator=st.sampled_from(["best_score", "confidence", "weighted_vote"]),
    weights=st.lists(st.floats(-3, 3), min_size=6, max_size=6),
)
def test_only_experts_that_answered_count_in_the_answer(fates, aggregator, weights):
    names = [f"e{i}" for i in range(len(fates))]
    experts = [FATES[fate](name, f"answer of {name}") for name, fate in zip(names, fates)]
    moe = HiMoE(
        experts=experts,
        entry_points=False,
        environ={},
        config={
            "himoe": {"budget_ms": 50, "cost_budget": 100.0},
            "state": {"enabled": False},
            "routers": {
                "r": {"experts": names, "k": len(names), "aggregator": aggregator, "weights": dict(zip(names, weights))}
            },
        },
    )
    answered = {name for name, fate in zip(names, fates) if fate == "ok"}

    async def main():
        try:
            return await moe.run("question")
        except Exception as exc:
            return exc

    result = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    if not answered:
        assert isinstance(result, Exception) and type(result).__module__.startswith("himoe_core"), repr(result)
        return
    assert not isinstance(result, Exception), repr(result)
    attempt = result.trace["attempts"][-1]
    assert set(attempt["mix"]["weights"]) <= answered
    assert result.value.as_text() in {f"answer of {name}" for name in answered}
    failures = dict(result.mix.failures)
    assert set(failures) == set(names) - answered
    for name, fate in zip(names, fates):
        expected = {"ok": None, "raises": "failed", "hangs": "timed_out", "malformed": "failed", "dear": "dropped"}
        if expected[fate]:
            assert failures[name].startswith(expected[fate]), (name, failures[name])
