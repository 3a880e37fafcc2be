"""Property-based tests of gating and top-k, beyond tests/test_engine_gating.py: logits at the
edges of float64 (huge, tiny, many ties), any permutation of the candidates, and every built-in
router kind's picks — bounded, non-empty, without repeats, and the same whatever order the
experts are listed in."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from himoe_core import ConfigError, Context, HiMoE, InputData
from himoe_core.routing import GatingPolicy, RouterInput, gate_with_policy, stable_id
from himoe_core.testing import ConstantExpert

SETTINGS = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

extreme_logits = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),  # anything finite, ±1.8e308 included
    st.sampled_from([0.0, -0.0, 1.0, 5e-324, -5e-324, 1e308, -1e308]),  # ties and subnormals
)


@SETTINGS
@given(
    data=st.data(),
    n=st.integers(1, 16),
    temperature=st.floats(1e-6, 1e6),
    epsilon=st.floats(0.0, 1.0),
    seed=st.integers(0, 2**64 - 1),
)
def test_any_finite_logits_give_a_distribution_with_the_floor_in_a_stable_order(data, n, temperature, epsilon, seed):
    logits = data.draw(st.lists(extreme_logits, min_size=n, max_size=n))
    ids = [stable_id(f"expert-{i}") for i in range(n)]
    policy = GatingPolicy(temperature, epsilon, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning from numpy, whatever the logits
        scores = gate_with_policy(ids, logits, policy)
    probs = np.array(scores.probs)
    assert np.isfinite(probs).all()
    assert probs.sum() == pytest.approx(1.0, abs=1e-9)
    assert probs.min() >= epsilon / n - 1e-12
    assert list(probs) == sorted(probs, reverse=True)
    # softmax is monotone: a lower logit ranks before a higher one only when float rounding made
    # their probabilities equal (the tie-break then orders them)
    for i in range(n - 1):
        if scores.logits[i] < scores.logits[i + 1]:
            assert scores.probs[i] == scores.probs[i + 1]
    # any permutation of the same candidates gives the same ranking
    order = data.draw(st.permutations(range(n)))
    again = gate_with_policy([ids[i] for i in order], [logits[i] for i in order], policy)
    assert again.ids == scores.ids
    assert again.probs == pytest.approx(scores.probs, rel=1e-12, abs=1e-300)  # summation order: last-bit noise


@SETTINGS
@given(
    logits=st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=8),
    bad=st.sampled_from([math.nan, math.inf, -math.inf]),
    where=st.integers(0, 7),
)
def test_a_non_finite_logit_is_refused(logits, bad, where):
    logits[where % len(logits)] = bad
    ids = [stable_id(f"e{i}") for i in range(len(logits))]
    with pytest.raises(ValueError, match="gate logits must be finite"):
        gate_with_policy(ids, logits, GatingPolicy())


@SETTINGS
@given(
    temperature=st.one_of(st.floats(), st.integers(), st.none(), st.text(max_size=2), st.booleans()),
    epsilon=st.one_of(st.floats(), st.integers(-2, 2), st.none(), st.booleans()),
    seed=st.one_of(st.integers(-2, 2**65), st.floats(), st.none(), st.booleans()),
)
def test_any_gating_table_is_a_policy_or_a_config_error(temperature, epsilon, seed):
    try:
        policy = GatingPolicy(temperature, epsilon, seed)
    except ConfigError as exc:
        assert str(exc).startswith("gating.")
        return
    assert policy.temperature > 0 and 0 <= policy.epsilon <= 1 and 0 <= policy.seed < 2**64


# -- top-k through every built-in router kind ------------------------------------------------------------------
KINDS = ["static", "symbolic", "linear", "linucb", "thompson", "hybrid", "logistic"]
NAMES = [f"x{i}" for i in range(8)]


def build_router(kind: str, names: list[str], seed: int, k: int):
    table = {"kind": kind, "experts": names, "k": k, "gating": {"seed": seed}}
    if kind not in ("static", "symbolic"):
        table["encoder"] = {"id": "hashing", "dim": 8}
    moe = HiMoE(
        experts=[ConstantExpert(n) for n in NAMES],
        entry_points=False,
        environ={},
        config={"routers": {"r": table}, "state": {"enabled": False}},
    )
    return moe.routers["r"].handle


def picks_of(router, text: str, k: int) -> list[str]:
    x = InputData.text(text)
    encoder = getattr(router, "encoder", None)
    rin = RouterInput(x, encoder.encode(x) if encoder is not None else None)
    scores = router.gate(rin, Context.start(1000))
    return [ref.name for ref in router.pick_topk(scores, k)]


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kind=st.sampled_from(KINDS),
    data=st.data(),
    n=st.integers(1, 8),
    k=st.integers(-3, 12),
    config_k=st.integers(1, 10),
    seed=st.integers(0, 2**64 - 1),
    texts=st.lists(st.text(max_size=30), min_size=1, max_size=4),
)
def test_top_k_is_bounded_non_empty_deterministic_and_order_free(kind, data, n, k, config_k, seed, texts):
    names = NAMES[:n]
    shuffled = data.draw(st.permutations(names))
    first, second = build_router(kind, names, seed, config_k), build_router(kind, list(shuffled), seed, config_k)
    for text in texts:
        picks = picks_of(first, text, k)
        assert 1 <= len(picks) <= max(1, min(k, n)), (k, n, picks)
        assert len(set(picks)) == len(picks) and set(picks) <= set(names)
        assert picks_of(second, text, k) == picks, "the order experts are listed in changed the picks"
