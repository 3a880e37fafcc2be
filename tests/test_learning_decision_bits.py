"""A learned decision's fast paths compute what the array code computes, to the bit: the gate
of a few candidates and the logistic router's sigmoids on Python floats, the model's tables read
by slices, checked against the array code they replace (forced with `_FEW = 0`) on the same
inputs — gate probabilities, sampled picks and the parameters learned from a stream of GSM8K
prompts with feedback."""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import trio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from himoe_core import HiMoE
from himoe_core._learning import diagonal_logistic_model
from himoe_core._router import base_router, gating, logistic_router
from himoe_core.routing import GatingPolicy, gate_with_policy, stable_id

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))
from noop_expert import NoopExpert  # noqa: E402

SETTINGS = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
logit = st.one_of(
    st.floats(-1e3, 1e3),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1.0, 5e-324, 1e308, -1e308]),
)


def as_bits(scores):
    return scores.ids, [v.hex() for v in scores.logits], [v.hex() for v in scores.probs], scores.estimates


@SETTINGS
@given(
    data=st.data(),
    n=st.integers(1, 16),
    temperature=st.floats(1e-6, 1e3),
    epsilon=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**64 - 1),
)
def test_the_gate_of_a_few_candidates_is_the_array_gate_to_the_bit(data, n, temperature, epsilon, seed):
    logits = data.draw(st.lists(logit, min_size=n, max_size=n))
    estimates = data.draw(st.none() | st.lists(st.floats(-1.0, 1.0), min_size=n, max_size=n))
    ids = [stable_id(f"expert-{i}") for i in range(n)]
    policy = GatingPolicy(temperature, epsilon, seed)
    fast = gate_with_policy(ids, logits, policy, estimates)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gating, "_FEW", 0)
        reference = gate_with_policy(ids, np.array(logits), policy, estimates)
    assert as_bits(fast) == as_bits(reference)
    assert fast == reference


@pytest.mark.parametrize("explore", ["thompson", "ucb", "greedy"])
@pytest.mark.parametrize("arms", [1, 2, 5, 16])
def test_the_logistic_sigmoids_of_a_few_arms_are_the_array_ones_to_the_bit(explore, arms):
    rng = np.random.default_rng(arms)
    router = (
        HiMoE(
            experts=[NoopExpert("weak")],
            entry_points=False,
            environ={},
            config={"routers": {"main": {"kind": "logistic", "explore": explore}}, "state": {"enabled": False}},
        )
        .routers["main"]
        .handle
    )
    for _ in range(200):
        means = rng.normal(0.0, rng.choice([0.1, 3.0, 40.0]), arms)
        widths = np.abs(rng.normal(0.0, 2.0, arms))
        state = router.rng.bit_generator.state
        explored, estimates = router._scored(means, widths, None)
        router.rng.bit_generator.state = state
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(logistic_router, "_FEW", 0)
            array_explored, array_estimates = router._scored(means, widths, None)
        assert [v.hex() for v in explored] == [float(v).hex() for v in array_explored]
        assert [v.hex() for v in estimates] == [float(v).hex() for v in array_estimates]


def stream_digest() -> tuple[str, str]:
    """A logistic router (hashing dim 4096 + length) deciding on 300 GSM8K prompts, with the
    recorded correctness as feedback: digests of its decisions (feature ids; gate logits,
    probabilities and picks) and of the parameters it learned."""
    with (BENCHMARKS / "data" / "gsm8k.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))[:300]
    router = {
        "kind": "logistic",
        "encoder": {"id": "hashing", "dim": 4096, "length": True},
        "gating": {"seed": 0},
        "experts": ["weak", "strong"],
    }
    moe = HiMoE(
        experts=[NoopExpert("weak"), NoopExpert("strong")],
        entry_points=False,
        environ={},
        config={"routers": {"main": router}, "state": {"enabled": False}},
    )
    decisions = hashlib.sha256()

    async def stream() -> None:
        for row in rows:
            response = await moe.run(row["prompt"], context={"source": "gsm8k"} if len(row["prompt"]) % 3 else None)
            decision = response.decision
            decisions.update(decision.features.indices.tobytes())
            decisions.update(decision.features.values.tobytes())
            decisions.update(repr([[v.hex() for v in decision.scores.logits], decision.scores.probs]).encode())
            decisions.update(repr([int(eid) for eid in decision.picks]).encode())
            correct = row["weak_correct"] if response.value.as_text() == "weak" else row["strong_correct"]
            moe.feedback(response.trace_id, reward=float(correct))

    trio.run(stream)
    state = moe.routers["main"].handle.state_dict()
    moe.close()
    learned = hashlib.sha256()
    for key, value in sorted(state.pop("logistic").items()):
        learned.update(key.encode() + (value.tobytes() if isinstance(value, np.ndarray) else repr(value).encode()))
    learned.update(json.dumps(state, sort_keys=True).encode())
    return decisions.hexdigest(), learned.hexdigest()


def test_a_learned_stream_decides_and_learns_as_the_array_code_does():
    fast = stream_digest()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(gating, "_FEW", 0)
        patch.setattr(logistic_router, "_FEW", 0)
        patch.setattr(diagonal_logistic_model, "_FEW", 0)
        patch.setattr(base_router, "FEW_CANDIDATES", 0)
        reference = stream_digest()
    assert fast == reference
