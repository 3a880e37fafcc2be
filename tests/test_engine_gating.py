"""Gating: stable softmax, temperature, ε floor, deterministic tie-break, bounded top-k."""

from __future__ import annotations

import itertools
import math
from types import SimpleNamespace

import numpy as np
import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st

from himoe_core import ConfigError, Context, HiMoE, InputData, NoExpertSelected, Value
from himoe_core.routing import GatingPolicy, RouterInput, gate_with_policy, softmax_stable, stable_id
from himoe_core.testing import ConstantExpert


def _mock_run(fn):
    return trio.run(fn, clock=trio.testing.MockClock(autojump_threshold=0))


def _moe(experts, **router):
    table = {"kind": "static", "experts": [e.name for e in experts], "k": 1, "aggregator": "best_score"}
    table.update(router)
    return HiMoE(experts=experts, entry_points=False, environ={}, config={"routers": {"r": table}})


# -- softmax ---------------------------------------------------------------------------------------
def test_softmax_sums_to_one_and_preserves_order():
    probs = softmax_stable([0.5, 2.0, -1.0, 0.0])
    assert probs.sum() == pytest.approx(1.0, abs=1e-12)
    assert list(np.argsort(-probs)) == [1, 0, 3, 2]
    expected = np.exp([0.5, 2.0, -1.0, 0.0]) / np.exp([0.5, 2.0, -1.0, 0.0]).sum()
    np.testing.assert_allclose(probs, expected, rtol=1e-12)


def test_softmax_is_stable_for_huge_logits():
    probs = softmax_stable([1e6, 1e6 - 1.0, -1e6])
    assert np.isfinite(probs).all()
    assert probs.sum() == pytest.approx(1.0, abs=1e-12)
    assert probs[0] / probs[1] == pytest.approx(math.e, rel=1e-9)
    assert probs[2] == 0.0
    equal = softmax_stable([1e6, 1e6])
    np.testing.assert_allclose(equal, [0.5, 0.5])


def test_temperature_sharpens_and_flattens():
    logits = [1.0, 0.0]
    base = softmax_stable(logits, 1.0)
    sharp = softmax_stable(logits, 0.1)
    flat = softmax_stable(logits, 10.0)
    assert sharp[0] > base[0] > flat[0] > 0.5
    assert sharp[0] == pytest.approx(1.0 / (1.0 + math.exp(-10.0)))
    assert flat[0] == pytest.approx(1.0 / (1.0 + math.exp(-0.1)))
    for probs in (sharp, flat):
        assert probs.sum() == pytest.approx(1.0)


# -- the policy ------------------------------------------------------------------------------------
def test_epsilon_floor_gives_every_candidate_a_share():
    ids = [stable_id(n) for n in ("a", "b", "c", "d")]
    eps = 0.2
    scores = gate_with_policy(ids, [50.0, 0.0, -50.0, -100.0], GatingPolicy(epsilon=eps))
    assert sum(scores.probs) == pytest.approx(1.0)
    assert min(scores.probs) >= eps / len(ids) - 1e-12
    assert scores.probs[0] == pytest.approx(1.0 - eps + eps / 4)
    assert scores.ids[0] == stable_id("a")
    assert all(p > 0 for p in scores.probs)


def test_probs_are_ranked_best_first_and_sum_to_one():
    ids = [stable_id(n) for n in ("x", "y", "z")]
    scores = gate_with_policy(ids, [0.1, 3.0, 1.0], GatingPolicy(temperature=0.5, epsilon=0.05))
    assert list(scores.ids) == [stable_id("y"), stable_id("z"), stable_id("x")]
    assert list(scores.probs) == sorted(scores.probs, reverse=True)
    assert sum(scores.probs) == pytest.approx(1.0)
    assert scores.prob(stable_id("y")) == scores.probs[0]
    assert scores.prob(stable_id("nobody")) == 0.0


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(
    logits=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=12),
    temperature=st.floats(0.01, 100.0),
    epsilon=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**64 - 1),
)
def test_gate_is_a_ranked_distribution_with_the_floor(logits, temperature, epsilon, seed):
    ids = [stable_id(f"e{i}") for i in range(len(logits))]
    scores = gate_with_policy(ids, logits, GatingPolicy(temperature, epsilon, seed))
    assert sorted(scores.ids) == sorted(ids)
    assert sum(scores.probs) == pytest.approx(1.0, abs=1e-9)
    assert min(scores.probs) >= epsilon / len(ids) - 1e-12
    assert list(scores.probs) == sorted(scores.probs, reverse=True)
    again = gate_with_policy(list(reversed(ids)), list(reversed(logits)), GatingPolicy(temperature, epsilon, seed))
    assert again.ids == scores.ids


def test_ties_are_broken_by_seed_whatever_the_input_order():
    names = ["alpha", "beta", "gamma", "delta", "eps"]
    ids = [stable_id(n) for n in names]
    policy = GatingPolicy(seed=1234)
    reference = gate_with_policy(ids, np.zeros(len(ids)), policy).ids
    for perm in itertools.permutations(range(len(ids))):
        permuted = [ids[i] for i in perm]
        assert gate_with_policy(permuted, np.zeros(len(ids)), policy).ids == reference
    # a strictly better logit still wins over the tie-break
    boosted = gate_with_policy(ids, [0, 0, 0, 0, 1e-9], policy)
    assert boosted.ids[0] == stable_id("eps")


def test_different_seeds_can_change_the_tie_order():
    ids = [stable_id(n) for n in ("alpha", "beta", "gamma", "delta", "eps")]
    orders = {gate_with_policy(ids, np.zeros(5), GatingPolicy(seed=s)).ids for s in range(16)}
    assert len(orders) > 1
    # and each seed is reproducible
    for seed in range(4):
        first = gate_with_policy(ids, np.zeros(5), GatingPolicy(seed=seed)).ids
        assert gate_with_policy(list(reversed(ids)), np.zeros(5), GatingPolicy(seed=seed)).ids == first


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"temperature": 0}, "temperature"),
        ({"temperature": -1.0}, "temperature"),
        ({"temperature": math.inf}, "temperature"),
        ({"epsilon": 1.5}, "epsilon"),
        ({"epsilon": -0.1}, "epsilon"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**64}, "seed"),
        ({"seed": 1.5}, "seed"),
    ],
)
def test_policy_validation_names_the_key_and_value(kwargs, key):
    with pytest.raises(ConfigError) as info:
        GatingPolicy(**kwargs)
    message = str(info.value)
    assert f"gating.{key}" in message
    assert repr(next(iter(kwargs.values()))) in message


def test_gating_errors_in_config_name_the_router():
    expert = ConstantExpert("a")
    with pytest.raises(ConfigError) as info:
        _moe([expert], gating={"epsilon": 1.5})
    message = str(info.value)
    assert "routers.r" in message and "gating.epsilon" in message and "1.5" in message
    with pytest.raises(ConfigError, match=r"routers\.r\.gating\.bogus"):
        _moe([expert], gating={"bogus": 1})


def test_gate_rejects_non_finite_logits():
    with pytest.raises(ValueError, match="finite"):
        gate_with_policy([stable_id("a"), stable_id("b")], [0.0, math.nan], GatingPolicy())


# -- pick_topk ---------------------------------------------------------------------------------------
def _router_and_scores(n=3, **router):
    experts = [ConstantExpert(f"e{i}") for i in range(n)]
    moe = _moe(experts, **router)
    router_obj = moe.routers["r"].handle
    rin = RouterInput(InputData.text("hello"))
    return router_obj, router_obj.gate(rin, Context.start(1000))


def test_pick_topk_is_bounded_non_empty_and_deterministic():
    router, scores = _router_and_scores(3)
    assert len(router.pick_topk(scores, 10)) == 3
    assert len(router.pick_topk(scores, 2)) == 2
    assert len(router.pick_topk(scores, 0)) == 1  # never empty
    picks = [r.id for r in router.pick_topk(scores, 2)]
    assert picks == list(scores.ids[:2])
    for _ in range(5):
        again_router, again_scores = _router_and_scores(3)
        assert [r.id for r in again_router.pick_topk(again_scores, 2)] == picks
    names = {r.name for r in router.pick_topk(scores, 3)}
    assert names == {"e0", "e1", "e2"}


def test_pick_topk_follows_static_weights():
    router, scores = _router_and_scores(3, weights={"e2": 2.0, "e0": 1.0})
    assert [r.name for r in router.pick_topk(scores, 3)] == ["e2", "e0", "e1"]


def test_no_expert_can_handle_names_the_task_and_the_experts():
    experts = [ConstantExpert("fr-tagger", prefix="fr:"), ConstantExpert("de-tagger", prefix="de:")]
    moe = _moe(experts)

    async def main():
        await moe.run("bonjour", task="zz:tag")

    with pytest.raises(NoExpertSelected) as info:
        _mock_run(main)
    message = str(info.value)
    assert "zz:tag" in message
    assert "fr-tagger" in message and "de-tagger" in message
    assert experts[0].calls == experts[1].calls == 0


def test_no_expert_can_handle_shows_the_request_each_expert_gives_as_its_example():
    class Tagger:
        name = "fr-tagger"
        example = "fr:tag Le chat dort."  # how users reach it, shown when they did not

        def can_handle(self, task: str) -> bool:
            return task.startswith("fr:")

        async def infer(self, x, ctx):
            return "tags"

    moe = _moe([Tagger(), ConstantExpert("de-tagger", prefix="de:")])

    async def main():
        await moe.run("hello")

    with pytest.raises(NoExpertSelected) as info:
        _mock_run(main)
    assert str(info.value).endswith(
        "has no expert that can handle text 'hello'; its experts are de-tagger, fr-tagger (e.g. 'fr:tag Le chat dort.')"
    )


def test_can_handle_sees_the_task_hint_else_the_text():
    fr = ConstantExpert("fr", value="fr", prefix="fr:")
    plan = ConstantExpert("planner", value="plan", prefix="plan")
    moe = _moe([fr, plan])

    async def main():
        by_task = await moe.run("anything", task="fr:tag")
        by_text = await moe.run("plan: a trip")
        return by_task.value.as_text(), by_text.value.as_text()

    assert _mock_run(main) == ("fr", "plan")


def test_faulty_can_handle_excludes_only_its_expert():
    def explode(task):
        raise RuntimeError("broken can_handle")

    async def never_called(x, ctx):
        raise AssertionError("an expert whose can_handle raised must not be called")

    good = ConstantExpert("good", value="good")
    bad = SimpleNamespace(name="bad", can_handle=explode, infer=never_called)
    moe = _moe([good, bad], k=2)

    async def main():
        return await moe.run("x")

    response = _mock_run(main)
    assert response.value.as_text() == "good"
    assert [p["expert"] for p in response.trace["attempts"][0]["picks"]] == ["good"]


def test_a_learning_routers_public_logits_are_arrays_however_few_the_arms():
    """The logistic router scores a few arms on Python floats inside; `logits` and
    `logits_and_estimates`, which router authors call and extend, still return arrays."""
    experts = [ConstantExpert("e0"), ConstantExpert("e1")]
    moe = _moe(experts, kind="logistic", encoder={"id": "hashing", "dim": 16})
    router = moe.routers["r"].handle
    rin = router.encode(InputData.text("hello there"))
    candidates = list(router.experts)
    logits, estimates = router.logits_and_estimates(rin, candidates, Context.start(1000))
    for values in (logits, estimates, router.logits(rin, candidates, Context.start(1000))):
        assert isinstance(values, np.ndarray) and values.dtype == np.float64 and values.shape == (2,)
    assert (router.logits(rin, candidates, Context.start(1000)) - 0.5).shape == (2,)


def test_a_fanout_still_makes_its_telemetry_for_routers_written_against_it():
    from himoe_core._aggregator.aggregated_out import AggregatedOut
    from himoe_core._aggregator.mix_meta import MixMeta
    from himoe_core.routing import FanoutResult

    router, scores = _router_and_scores(2)
    answer = AggregatedOut(Value.text("x"), [(scores.ids[0], 1.0)])
    fanout = FanoutResult(())
    assert fanout.mix_meta(scores, [], answer, "best_score") == MixMeta.of(fanout, scores, [], answer, "best_score")
