"""The `cascade` router: cheapest first within one deadline and budget, a learned acceptance
model deciding when to stop, one knob trading cost against quality, a trace of every stage."""

from __future__ import annotations

import numpy as np
import pytest
import trio
import trio.testing

from himoe_core import ExpertAux, ExpertOut, HiMoE, Value
from himoe_core.testing import HangingExpert


class Graded:
    """Answers 'right' when it can solve the request, else 'wrong'; `confident` says whether
    it reports a high confidence only when it is right (a calibrated expert)."""

    domain = "test"

    def __init__(self, name: str, cost: float, solves: str, confident: bool = True) -> None:
        self.name, self.cost_units, self.solves, self.confident = name, cost, solves, confident
        self.calls = 0

    def can_handle(self, task: str) -> bool:
        return True

    async def infer(self, x, ctx) -> ExpertOut:
        self.calls += 1
        right = self.solves in x.as_text()
        confidence = (0.9 if right else 0.3) if self.confident else 0.6
        return ExpertOut(
            Value.text("right" if right else "wrong"), ExpertAux(cost_units=self.cost_units, confidence=confidence)
        )


def _engine(cost_weight: float, experts=None, **extra) -> HiMoE:
    experts = experts or [Graded("cheap", 1.0, "easy"), Graded("strong", 10.0, "")]
    return HiMoE(
        experts=experts,
        entry_points=False,
        environ={},
        config={
            "routers": {
                "r": {"kind": "cascade", "experts": [e.name for e in experts], "cost_weight": cost_weight, **extra}
            },
            "state": {"enabled": False},
        },
    )


def _stream(moe: HiMoE, n: int, seed: int = 0) -> list[tuple[float, float]]:
    """(reward, cost) per request: half the requests are easy (the cheap expert solves them)."""
    rng = np.random.default_rng(seed)
    results = []
    for _ in range(n):
        text = "an easy one" if rng.random() < 0.5 else "a hard one"
        response = moe.run_sync(text)
        reward = float(response.value.data == "right")
        moe.feedback(response.trace_id, reward=reward)
        results.append((reward, response.mix.cost_units))
    return results


def test_the_cascade_learns_to_stop_at_the_cheap_expert_when_it_is_right():
    moe = _engine(cost_weight=0.05)
    try:
        results = _stream(moe, 300)
        late = results[200:]
        reward, cost = np.mean([r for r, _ in late]), np.mean([c for _, c in late])
        # always right (escalating whenever the cheap answer is wrong), at about half the strong
        # expert's cost: the cheap expert alone on easy requests, both on hard ones
        assert reward >= 0.97 and cost < 0.8 * 10.0, (reward, cost)
        easy = moe.run_sync("an easy one")
        stages = easy.trace["attempts"][0]["calls"]
        assert [s["expert"] for s in stages] == ["cheap"] and stages[0]["cause"].startswith("accepted: P(right)")
        hard = moe.run_sync("a hard one")
        stages = hard.trace["attempts"][0]["calls"]
        assert [s["expert"] for s in stages] == ["cheap", "strong"]
        assert stages[0]["cause"].startswith("escalated: P(right)") and stages[1]["cause"].startswith("accepted")
        assert hard.value.data == "right" and hard.trace["attempts"][0]["picks"][0]["expert"] == "cheap"
    finally:
        moe.close()


def test_one_knob_trades_cost_for_quality():
    cheap_only = _engine(cost_weight=1.0)  # a cost unit is worth more than any gain in P(right)
    try:
        results = _stream(cheap_only, 200)[100:]
        assert np.mean([c for _, c in results]) == 1.0 and np.mean([r for r, _ in results]) < 0.7
    finally:
        cheap_only.close()


def test_the_deadline_ends_the_cascade_with_the_answer_it_has():
    async def main():
        experts = [Graded("cheap", 1.0, "easy"), HangingExpert("slow")]
        experts[1].cost_units = 10.0
        async with HiMoE.open(
            experts=experts,
            entry_points=False,
            environ={},
            config={"routers": {"r": {"kind": "cascade", "experts": ["cheap", "slow"]}}, "state": {"enabled": False}},
        ) as moe:
            response = await moe.run("a hard one", budget_ms=200)
            calls = response.trace["attempts"][0]["calls"]
            assert response.value.data == "wrong"  # the cheap answer: the only one in time
            assert [c["status"] for c in calls] == ["ok", "timed_out"]
            assert calls[0]["cause"] == "accepted: nothing after it could run"
            assert trio.current_time() == pytest.approx(0.2)

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_the_cost_budget_stops_before_a_stage_it_cannot_afford():
    moe = _engine(cost_weight=0.0)
    try:
        response = moe.run_sync("a hard one", cost_budget=5.0)
        assert [c["expert"] for c in response.trace["attempts"][0]["calls"]] == ["cheap"]
        assert response.trace["attempts"][0]["calls"][0]["cause"].startswith("accepted: the last stage")
    finally:
        moe.close()
