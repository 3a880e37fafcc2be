"""Aggregators: best-score among successes, weighted vote, weighted mean, confidence."""

from __future__ import annotations

import numpy as np
import pytest
import trio
import trio.testing

from himoe_core import ExpertAux, ExpertOut, HiMoE, NoExpertSelected, Plan, PlanStep, Value, ValueKind
from himoe_core._aggregator.mix_meta import MixMeta
from himoe_core._router.fanout_result import FanoutResult
from himoe_core.routing import (
    AggregationFailed,
    BestScoreAggregator,
    ConfidenceAggregator,
    ExpertRef,
    GateScores,
    WeightedMeanAggregator,
    WeightedVoteAggregator,
    stable_id,
)
from himoe_core.testing import ConstantExpert, FailingExpert


def _ref(name):
    return ExpertRef(stable_id(name), ConstantExpert(name))


def _scores(**probs):
    ids = [stable_id(n) for n in probs]
    return GateScores(ids, [0.0] * len(ids), list(probs.values()))


def _out(value, confidence=1.0, cost=0.0):
    return ExpertOut(
        Value.text(value) if isinstance(value, str) else value, ExpertAux(cost_units=cost, confidence=confidence)
    )


def _meta(out, calls, scores, aggregator="test"):
    """The MixMeta a fan-out builds around an aggregator's answer (aggregators return value and
    weights; the telemetry, disagreement included, is the fan-out's)."""
    return MixMeta.of(FanoutResult(()), scores, calls, out, aggregator)


def _mock_run(fn):
    return trio.run(fn, clock=trio.testing.MockClock(autojump_threshold=0))


# -- best score ---------------------------------------------------------------------------------------
def test_best_score_picks_the_highest_gate():
    scores = _scores(a=0.5, b=0.3, c=0.2)
    calls = [(_ref("c"), _out("C")), (_ref("a"), _out("A")), (_ref("b"), _out("B"))]
    out = BestScoreAggregator().combine(calls, scores)
    assert out.value.as_text() == "A"
    assert out.weights == ((stable_id("a"), 1.0),)
    assert _meta(out, calls, scores).disagreement == pytest.approx(0.5)  # b and c disagree with 0.5 of 1.0


def test_best_score_only_considers_successes_through_the_engine():
    top = FailingExpert("top", message="crashed")
    second = ConstantExpert("second", value="second answer")
    third = ConstantExpert("third", value="third answer")
    moe = HiMoE(
        experts=[top, second, third],
        entry_points=False,
        environ={},
        config={
            "routers": {
                "r": {
                    "experts": ["top", "second", "third"],
                    "k": 3,
                    "aggregator": "best_score",
                    "weights": {"top": 3.0, "second": 2.0, "third": 1.0},
                }
            }
        },
    )

    async def main():
        return await moe.run("question")

    response = _mock_run(main)
    assert top.calls == 1
    assert response.value.as_text() == "second answer"
    assert response.trace["attempts"][0]["mix"]["weights"] == {"second": 1.0}


def test_best_score_prefers_a_value_over_none():
    scores = _scores(a=0.9, b=0.1)
    out = BestScoreAggregator().combine([(_ref("a"), _out(Value.none())), (_ref("b"), _out("B"))], scores)
    assert out.value.as_text() == "B"


def test_aggregators_refuse_an_empty_call_list():
    for aggregator in (
        BestScoreAggregator(),
        WeightedVoteAggregator(),
        WeightedMeanAggregator(),
        ConfidenceAggregator(),
    ):
        with pytest.raises(NoExpertSelected, match=aggregator.id):
            aggregator.combine([], _scores(a=1.0))


# -- weighted vote ------------------------------------------------------------------------------------
def test_weighted_vote_pools_equal_values():
    scores = _scores(a=0.4, b=0.3, c=0.3)
    calls = [(_ref("a"), _out("x")), (_ref("b"), _out("y")), (_ref("c"), _out("y"))]
    out = WeightedVoteAggregator().combine(calls, scores)
    assert out.value.as_text() == "y"
    assert _meta(out, calls, scores).disagreement == pytest.approx(0.4)
    assert dict(out.weights) == pytest.approx({stable_id("b"): 0.5, stable_id("c"): 0.5})


def test_weighted_vote_single_heavier_expert_wins_without_a_coalition():
    scores = _scores(a=0.6, b=0.2, c=0.2)
    calls = [(_ref("a"), _out("x")), (_ref("b"), _out("y")), (_ref("c"), _out("z"))]
    out = WeightedVoteAggregator().combine(calls, scores)
    assert out.value.as_text() == "x"
    assert _meta(out, calls, scores).disagreement == pytest.approx(0.4)


def test_weighted_vote_weighs_confidence():
    scores = _scores(a=0.5, b=0.5)
    calls = [(_ref("a"), _out("x", confidence=0.2)), (_ref("b"), _out("y", confidence=0.9))]
    out = WeightedVoteAggregator().combine(calls, scores)
    assert out.value.as_text() == "y"
    assert _meta(out, calls, scores).disagreement == pytest.approx(0.1 / 0.55)


def test_weighted_vote_tie_goes_to_the_best_ranked_expert():
    scores = _scores(b=0.5, a=0.5)  # gate ranking: b first
    calls = [(_ref("a"), _out("x")), (_ref("b"), _out("y"))]
    assert WeightedVoteAggregator().combine(calls, scores).value.as_text() == "y"


def test_weighted_vote_agreement_has_zero_disagreement():
    scores = _scores(a=0.7, b=0.3)
    calls = [(_ref("a"), _out(Value.json({"k": 1, "j": 2}))), (_ref("b"), _out(Value.json({"j": 2, "k": 1})))]
    out = WeightedVoteAggregator().combine(calls, scores)
    assert out.value.as_json() == {"j": 2, "k": 1}
    assert _meta(out, calls, scores).disagreement == 0.0


def test_weighted_vote_pools_classifiers_by_label_whatever_their_probabilities():
    scores = _scores(a=0.3, b=0.3, c=0.4)
    digit = lambda label, p: Value.json({"label": label, "probabilities": {str(label): p}, "model": "m"})  # noqa: E731
    calls = [(_ref("a"), _out(digit(8, 0.91))), (_ref("b"), _out(digit(8, 0.64))), (_ref("c"), _out(digit(3, 0.99)))]
    out = WeightedVoteAggregator().combine(calls, scores)
    assert out.value.as_json()["label"] == 8
    assert out.value.as_json()["probabilities"] == {"8": 0.91}  # the best-ranked voter's own output
    assert dict(out.weights) == pytest.approx({stable_id("a"): 0.5, stable_id("b"): 0.5})
    assert _meta(out, calls, scores).disagreement == pytest.approx(0.4)


def test_disagreement_compares_answers_not_their_probabilities():
    scores = _scores(a=0.6, b=0.4)
    calls = [
        (_ref("a"), _out(Value.json({"answer": [-2, 2], "latex": "a"}))),
        (_ref("b"), _out(Value.json({"answer": [-2, 2], "latex": "b"}))),
    ]
    for aggregator in (BestScoreAggregator(), ConfidenceAggregator(), WeightedVoteAggregator()):
        assert _meta(aggregator.combine(calls, scores), calls, scores).disagreement == 0.0, aggregator.id
    other = [(_ref("a"), _out(Value.json({"answer": 1}))), (_ref("b"), _out(Value.json({"answer": 2})))]
    assert _meta(BestScoreAggregator().combine(other, scores), other, scores).disagreement == pytest.approx(0.4)


def test_weighted_vote_normalises_text_and_plan():
    plan = Plan("", [PlanStep("buy flour"), PlanStep("bake bread")])
    scores = _scores(a=0.4, b=0.35, c=0.25)
    calls = [
        (_ref("a"), _out(Value.plan(plan))),
        (_ref("b"), _out("1. buy flour\n2. bake bread")),
        (_ref("c"), _out("- eat cake")),
    ]
    out = WeightedVoteAggregator().combine(calls, scores)
    assert out.value.kind is ValueKind.PLAN
    assert out.value.as_plan() == plan
    assert dict(out.weights) == pytest.approx({stable_id("a"): 0.4 / 0.75, stable_id("b"): 0.35 / 0.75})
    assert _meta(out, calls, scores).disagreement == pytest.approx(0.25)


def test_weighted_vote_normalises_plan_to_text_when_text_ranks_first():
    plan = Plan("", [PlanStep("step one"), PlanStep("step two")])
    scores = _scores(a=0.6, b=0.4)
    calls = [(_ref("a"), _out("1. step one\n2. step two")), (_ref("b"), _out(Value.plan(plan)))]
    out = WeightedVoteAggregator().combine(calls, scores)
    assert out.value.kind is ValueKind.TEXT
    assert _meta(out, calls, scores).disagreement == 0.0
    assert len(out.weights) == 2


def test_weighted_vote_refuses_mixed_kinds_naming_them():
    scores = _scores(a=0.6, b=0.4)
    calls = [(_ref("a"), _out("text")), (_ref("b"), _out(Value.embedding([1.0, 2.0])))]
    with pytest.raises(AggregationFailed) as info:
        WeightedVoteAggregator().combine(calls, scores)
    message = str(info.value)
    assert "a: text" in message and "b: embedding" in message


# -- weighted mean ---------------------------------------------------------------------------------------
def test_weighted_mean_of_embeddings():
    scores = _scores(a=0.75, b=0.25)
    calls = [(_ref("a"), _out(Value.embedding([1.0, 0.0, 2.0]))), (_ref("b"), _out(Value.embedding([0.0, 1.0, 6.0])))]
    out = WeightedMeanAggregator().combine(calls, scores)
    assert out.value.kind is ValueKind.EMBEDDING
    np.testing.assert_allclose(out.value.as_embedding(), [0.75, 0.25, 3.0], rtol=1e-6)
    assert dict(out.weights) == pytest.approx({stable_id("a"): 0.75, stable_id("b"): 0.25})
    assert _meta(out, calls, scores).disagreement > 0


def test_weighted_mean_weighs_confidence_too():
    scores = _scores(a=0.75, b=0.25)
    calls = [
        (_ref("a"), _out(Value.embedding([1.0, 0.0]), confidence=0.5)),
        (_ref("b"), _out(Value.embedding([0.0, 1.0]), confidence=1.0)),
    ]
    out = WeightedMeanAggregator().combine(calls, scores)
    np.testing.assert_allclose(out.value.as_embedding(), [0.6, 0.4], rtol=1e-6)


def test_weighted_mean_of_identical_embeddings_has_no_spread():
    scores = _scores(a=0.5, b=0.5)
    vec = Value.embedding([3.0, 4.0])
    out = WeightedMeanAggregator().combine([(_ref("a"), _out(vec)), (_ref("b"), _out(vec))], scores)
    np.testing.assert_allclose(out.value.as_embedding(), [3.0, 4.0])
    assert out.disagreement == pytest.approx(0.0, abs=1e-9)


def test_weighted_mean_refuses_other_kinds_naming_them():
    scores = _scores(a=0.5, b=0.5)
    calls = [(_ref("a"), _out(Value.embedding([1.0]))), (_ref("b"), _out("text"))]
    with pytest.raises(AggregationFailed) as info:
        WeightedMeanAggregator().combine(calls, scores)
    assert "text" in str(info.value) and "'b'" in str(info.value)


def test_weighted_mean_refuses_mismatched_sizes():
    scores = _scores(a=0.5, b=0.5)
    calls = [(_ref("a"), _out(Value.embedding([1.0, 2.0]))), (_ref("b"), _out(Value.embedding([1.0, 2.0, 3.0])))]
    with pytest.raises(AggregationFailed, match=r"\[2, 3\]"):
        WeightedMeanAggregator().combine(calls, scores)


def test_aggregation_failure_surfaces_from_the_engine():
    experts = [ConstantExpert("vec", value=np.array([1.0, 2.0], dtype=np.float32)), ConstantExpert("txt", value="hi")]
    moe = HiMoE(
        experts=experts,
        entry_points=False,
        environ={},
        config={"routers": {"r": {"experts": ["vec", "txt"], "k": 2, "aggregator": "weighted_mean"}}},
    )

    async def main():
        await moe.run("question")

    with pytest.raises(AggregationFailed, match="weighted_mean"):
        _mock_run(main)


# -- confidence --------------------------------------------------------------------------------------------
def test_confidence_picks_the_most_confident():
    scores = _scores(a=0.6, b=0.3, c=0.1)
    calls = [
        (_ref("a"), _out("A", confidence=0.3)),
        (_ref("b"), _out("B", confidence=0.9)),
        (_ref("c"), _out("C", confidence=0.5)),
    ]
    out = ConfidenceAggregator().combine(calls, scores)
    assert out.value.as_text() == "B"
    assert out.weights == ((stable_id("b"), 1.0),)


def test_confidence_ties_go_to_the_better_gate():
    scores = _scores(c=0.6, a=0.4)
    calls = [(_ref("a"), _out("A", confidence=0.8)), (_ref("c"), _out("C", confidence=0.8))]
    assert ConfidenceAggregator().combine(calls, scores).value.as_text() == "C"


def test_mix_meta_reports_entropy_and_utilisation():
    scores = _scores(a=0.5, b=0.5)
    calls = [(_ref("a"), _out("A")), (_ref("b"), _out("A"))]
    out = BestScoreAggregator().combine(calls, scores)
    assert _meta(out, calls, scores).entropy == pytest.approx(np.log(2))
    assert dict(_meta(out, calls, scores).util_by_expert) == {stable_id("a"): 0.5, stable_id("b"): 0.5}
    assert _meta(out, calls, scores).disagreement == 0.0
