"""Guardrail metrics (calibration, drift, the stats over real traces) and off-policy evaluation."""

from __future__ import annotations

import math
import os
import random

import numpy as np
import pytest

from himoe_core import HiMoE, InvalidInput, NoExpertSelected
from himoe_core._engine.evaluation import evaluate_router
from himoe_core._learning.metrics import compute_stats, expected_calibration_error, kl_divergence
from himoe_core._learning.off_policy import estimate
from himoe_core._learning.regularizers import cv_squared
from himoe_core.testing import ConstantExpert, FailingExpert


# -- calibration ----------------------------------------------------------------------------------------------
def test_ece_equals_the_hand_computation():
    confidence = [0.05, 0.15, 0.15, 0.95, 0.95, 0.95, 0.55]
    correct = [0, 1, 0, 1, 1, 0, 1]
    # bins (width 0.1): [0.05] acc 0 | [0.15, 0.15] acc 1/2 | [0.55] acc 1 | [0.95 ×3] acc 2/3
    hand = (1 * 0.05 + 2 * abs(0.5 - 0.15) + 1 * abs(1 - 0.55) + 3 * abs(2 / 3 - 0.95)) / 7
    assert expected_calibration_error(np.array(confidence), np.array(correct)) == pytest.approx(hand, abs=1e-12)
    assert hand == pytest.approx(2.05 / 7)


def test_ece_bin_edges_and_extremes():
    # 0.1 belongs to the first bin with 0.0 (right-closed), 1.0 to the last
    assert expected_calibration_error(np.array([0.0, 0.1]), np.array([0, 0])) == pytest.approx(0.05)
    assert expected_calibration_error(np.array([1.0, 1.0]), np.array([1, 1])) == 0.0
    assert expected_calibration_error(np.array([1.0, 1.0]), np.array([0, 0])) == 1.0
    assert expected_calibration_error(np.array([0.3, 0.3, 0.3]), np.array([1, 0, 0]), bins=5) == pytest.approx(1 / 30)
    assert math.isnan(expected_calibration_error(np.array([]), np.array([])))


def test_a_calibrated_forecaster_has_small_ece_an_overconfident_one_does_not():
    rng = np.random.default_rng(0)
    confidence = rng.uniform(0, 1, 20_000)
    calibrated = rng.uniform(0, 1, 20_000) < confidence
    assert expected_calibration_error(confidence, calibrated) < 0.02
    overconfident = np.clip(confidence + 0.3, 0, 1)
    assert expected_calibration_error(overconfident, calibrated) > 0.2


# -- drift and balance ---------------------------------------------------------------------------------------
def test_kl_drift_is_zero_for_identical_windows_and_grows_with_the_shift():
    gates = {"alpha": 0.5, "beta": 0.3, "gamma": 0.2}
    assert kl_divergence(gates, dict(gates)) == 0.0
    assert kl_divergence({}, {}) == 0.0
    small = kl_divergence({"alpha": 0.55, "beta": 0.25, "gamma": 0.2}, gates)
    large = kl_divergence({"alpha": 0.9, "beta": 0.05, "gamma": 0.05}, gates)
    assert 0 < small < large
    exact = 0.5 * math.log(0.5 / 0.9) + 0.5 * math.log(0.5 / 0.1)
    assert kl_divergence({"a": 0.5, "b": 0.5}, {"a": 0.9, "b": 0.1}) == pytest.approx(exact, rel=1e-2)
    assert math.isfinite(kl_divergence({"a": 1.0}, {"b": 1.0}))  # an expert absent from one window


def test_cv_squared():
    assert cv_squared(np.array([5.0, 5.0, 5.0])) == 0.0
    assert cv_squared(np.array([1.0, 3.0])) == pytest.approx(0.25)
    assert cv_squared(np.array([7.0])) == 0.0


# -- stats over real traces -----------------------------------------------------------------------------------
def test_compute_stats_on_real_traces():
    experts = [
        ConstantExpert("alpha", value="yes", confidence=0.9, cost_units=2.0),
        ConstantExpert("beta", value="no", confidence=0.6, cost_units=1.0, prefix="b"),
        FailingExpert("broken"),
    ]
    config = {
        "routers": {
            "r": {
                "kind": "linucb",
                "experts": ["alpha", "beta"],
                "k": 2,
                "aggregator": "weighted_vote",
                "encoder": {"id": "hashing", "dim": 16},
                "gating": {"seed": 1},
            },
            "fails": {"kind": "static", "experts": ["broken"]},
        }
    }
    rewards = []
    with HiMoE(experts=experts, entry_points=False, environ={}, config=config) as moe:
        for i in range(12):
            response = moe.run_sync(f"b question {i}" if i % 3 else f"a question {i}")
            if i % 2 == 0:
                reward = 1.0 if response.value.as_text() == "yes" else 0.25
                moe.feedback(response.trace_id, reward=reward)
                rewards.append(reward)
        with pytest.raises(NoExpertSelected):
            moe.run_sync("this one fails", router="fails")
        moe.trainer.flush()
        traces, feedback = moe.trainer.store.traces(), moe.trainer.store.feedback()
    stats = compute_stats(traces, feedback)
    assert set(stats) == {
        "requests",
        "answered",
        "errors",
        "routers",
        "feedback",
        "quality",
        "calibration_ece",
        "load_balance_cv2",
        "utilisation",
        "latency_ms",
        "cost_units",
        "gating_drift_kl",
        "disagreement",
    }
    assert (stats["requests"], stats["answered"], stats["errors"]) == (13, 12, {"NoExpertSelected": 1})
    assert stats["routers"] == {"r": 12} and stats["feedback"] == 6
    assert stats["quality"] == pytest.approx(np.mean(rewards))
    # utilisation: the share of all picks; 'a …' requests can only go to alpha
    picks = [p["expert"] for t in traces if t["error"] is None for p in t["attempts"][-1]["picks"]]
    assert len(picks) == 8 * 2 + 4
    assert stats["utilisation"] == pytest.approx({"alpha": 12 / 20, "beta": 8 / 20})
    assert sum(stats["utilisation"].values()) == pytest.approx(1.0)
    assert stats["load_balance_cv2"] == pytest.approx(cv_squared(np.array([12.0, 8.0])))
    elapsed = [t["elapsed_ms"] for t in traces if t["error"] is None]
    assert stats["latency_ms"]["p50"] == pytest.approx(np.percentile(elapsed, 50))
    assert stats["latency_ms"]["p95"] == pytest.approx(np.percentile(elapsed, 95))
    assert 0 < stats["latency_ms"]["p50"] <= stats["latency_ms"]["p95"]
    assert stats["cost_units"] == {"mean": pytest.approx((8 * 3.0 + 4 * 2.0) / 12), "total": pytest.approx(32.0)}
    # the two experts always disagree (yes/no) when both answer: share of weight against the answer
    disagreements = [t["attempts"][-1]["mix"]["disagreement"] for t in traces if t["error"] is None]
    assert stats["disagreement"] == pytest.approx(np.mean(disagreements)) and stats["disagreement"] > 0
    assert stats["gating_drift_kl"] is None  # fewer than two windows
    assert stats["calibration_ece"] is not None and 0 <= stats["calibration_ece"] <= 1


def test_stats_drift_follows_the_gates_of_a_learning_router():
    experts = [ConstantExpert("alpha"), ConstantExpert("beta")]

    def drift(kind: str) -> float:
        """40 requests; alpha is right for the first 20, beta for the last 20; KL between the two windows."""
        config = {
            "routers": {
                "r": {
                    "kind": kind,
                    "experts": ["alpha", "beta"],
                    "encoder": {"id": "hashing", "dim": 16},
                    "gating": {"seed": 2},
                }
            },
            "state": {"path": os.environ["HIMOE_STATE"] + kind},
        }
        with HiMoE(experts=experts, entry_points=False, environ={}, config=config) as moe:
            for i in range(40):
                response = moe.run_sync("the same question")
                right = "alpha" if i < 20 else "beta"
                moe.feedback(
                    response.trace_id, reward=float(response.trace["attempts"][-1]["picks"][0]["expert"] == right)
                )
            store = moe.trainer.store
            return compute_stats(store.traces(), store.feedback(), window=20)["gating_drift_kl"]

    assert drift("static") == 0.0  # the same gates in both windows
    assert drift("linear") > 0.5  # the gate moved from alpha to beta


def test_stats_on_nothing():
    stats = compute_stats([], [])
    assert (stats["requests"], stats["answered"], stats["feedback"]) == (0, 0, 0)
    assert stats["quality"] is None and stats["utilisation"] == {} and stats["latency_ms"] == {"p50": None, "p95": None}


# -- off-policy estimators ------------------------------------------------------------------------------------
MEANS = np.array([[0.8, 0.2], [0.3, 0.7]])  # mean reward of action a in context c


def logged_data(n: int, seed: int = 0):
    """Contexts c ∈ {0, 1}, a uniform-random logging policy over two actions, Bernoulli rewards."""
    rng = np.random.default_rng(seed)
    context = rng.integers(0, 2, n)
    action = rng.integers(0, 2, n)
    reward = (rng.uniform(size=n) < MEANS[context, action]).astype(float)
    return context, action, np.full(n, 0.5), reward


@pytest.mark.parametrize("p_match", [1.0, 0.7])
def test_ips_snips_dr_recover_a_known_target_policy_value(p_match):
    context, action, propensity, reward = logged_data(4000)
    # target policy: action = context with probability p_match
    target = np.where(action == context, p_match, 1 - p_match)
    true_value = 0.5 * sum(p_match * MEANS[c, c] + (1 - p_match) * MEANS[c, 1 - c] for c in (0, 1))
    # a deliberately crude reward model (per action, ignoring the context): DR must still be right
    model = np.array([reward[action == a].mean() for a in (0, 1)])
    model_logged = model[action]
    model_target = np.where(
        context == 0, p_match * model[0] + (1 - p_match) * model[1], p_match * model[1] + (1 - p_match) * model[0]
    )
    result = estimate(propensity, target, reward, model_logged, model_target, resamples=400, seed=1)
    assert result["n"] == 4000 and result["logged_mean_reward"] == pytest.approx(reward.mean())
    for name in ("ips", "snips", "dr"):
        low, high = result[name]["ci95"]
        assert low <= true_value <= high, (name, result[name], true_value)
        assert result[name]["estimate"] == pytest.approx(true_value, abs=0.03), name
        assert high - low < 0.1
    assert abs(result["logged_mean_reward"] - true_value) > 0.08  # the naive average would be wrong
    if p_match == 1.0:
        assert result["effective_sample_size"] == pytest.approx(4000 / 2, rel=0.05)


def test_evaluating_the_logging_policy_itself_gives_the_logged_mean():
    _, action, propensity, reward = logged_data(500, seed=3)
    result = estimate(propensity, propensity, reward, np.zeros(500), np.zeros(500), resamples=200)
    for name in ("ips", "snips", "dr"):
        assert result[name]["estimate"] == pytest.approx(reward.mean())
    assert result["effective_sample_size"] == pytest.approx(500)


@pytest.mark.parametrize("bad", [0.0, -0.2])
def test_zero_or_negative_propensities_are_refused(bad):
    with pytest.raises(
        ValueError,
        match="every logged propensity must be > 0; decisions logged without "
        "exploration cannot be evaluated off-policy",
    ):
        estimate(np.array([0.5, bad]), np.array([1.0, 1.0]), np.array([1.0, 0.0]), np.zeros(2), np.zeros(2))


def test_evaluate_router_on_logged_traces():
    experts = [ConstantExpert("alpha"), ConstantExpert("beta")]
    config = {
        "routers": {
            # epsilon = 1: a uniform-random logging policy whatever it learns (propensity 0.5)
            "logger": {
                "kind": "linucb",
                "experts": ["alpha", "beta"],
                "encoder": {"id": "hashing", "dim": 16},
                "gating": {"epsilon": 1.0, "seed": 5},
            },
            "only_alpha": {"kind": "static", "experts": ["alpha"]},
            "only_beta": {"kind": "static", "experts": ["beta"]},
        }
    }
    rng = random.Random(5)
    topics = []
    with HiMoE(experts=experts, entry_points=False, environ={}, config=config) as moe:
        with pytest.raises(
            InvalidInput, match=r"no scored decision to evaluate on: route requests, then give feedback"
        ):
            evaluate_router(moe, "only_alpha")
        for i in range(400):
            topic = "apple" if rng.random() < 0.7 else "banana"  # alpha is right for ~70 % of requests
            topics.append(topic)
            response = moe.run_sync(f"tell me about {topic} number {i}")
            pick = response.trace["attempts"][-1]["picks"][0]
            assert pick["propensity"] == 0.5
            moe.feedback(response.trace_id, reward=float(pick["expert"] == ("alpha" if topic == "apple" else "beta")))
        results = {name: evaluate_router(moe, name, resamples=300) for name in ("logger", "only_alpha", "only_beta")}
        with pytest.raises(
            InvalidInput, match=r"unknown router 'nope'; configured routers: logger, only_alpha, only_beta"
        ):
            evaluate_router(moe, "nope")
    logged = results["logger"]["logged_mean_reward"]
    assert results["logger"]["n"] == 400 and results["logger"]["router"] == "logger"
    assert results["logger"]["ips"]["estimate"] == pytest.approx(logged)  # its own policy: weights of 1
    share = topics.count("apple") / len(topics)  # the true value of always answering with alpha
    for name, value in (("only_alpha", share), ("only_beta", 1 - share)):
        for estimator in ("ips", "snips", "dr"):
            low, high = results[name][estimator]["ci95"]
            assert low <= value <= high, (name, estimator, results[name][estimator])
            assert results[name][estimator]["estimate"] == pytest.approx(value, abs=0.1)
