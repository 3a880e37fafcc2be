from __future__ import annotations

from typing import Any

import numpy as np
from himoe_registry import ExpertId

from .._context import Context
from .._decision.decision import Decision
from .._experts.expert_ref import ExpertRef
from .._learning.bandit_score import BanditScore
from .gating_policy import GatingPolicy
from .learning_router import LearningRouter
from .option_checks import real
from .router_input import RouterInput


class SymbolicRouter(LearningRouter):
    """`can_handle` filtering plus a bandit score per expert learned from reward, latency and
    cost (UCB1 on mean reward; untried experts get an optimistic `prior`).

    logit = UCB(quality) − cost_weight·cost − latency_weight·latency_ms.
    """

    kind = "symbolic"
    needs_features = False
    default_policy = GatingPolicy(temperature=0.001, epsilon=0.02)
    """UCB1 explores through its bonus: the gate is near-greedy, with a small floor that keeps
    every expert's propensity above zero (for offline evaluation)."""

    def __init__(
        self, *, exploration: float = 0.5, prior: float = 1.0, latency_weight: float = 0.0, **options: Any
    ) -> None:
        super().__init__(**options)
        self.exploration = real("exploration", exploration, minimum=0.0)
        self.prior = real("prior", prior)
        self.latency_weight = real("latency_weight", latency_weight, minimum=0.0)
        self.scores: dict[int, BanditScore] = {int(ref.id): BanditScore() for ref in self.experts}

    def add_experts(self, experts: Any) -> None:
        super().add_experts(experts)
        for ref in self.experts:
            self.scores.setdefault(int(ref.id), BanditScore())

    def logits(self, input: RouterInput, candidates: list[ExpertRef], ctx: Context) -> np.ndarray:
        return self.logits_and_estimates(input, candidates, ctx)[0]

    def logits_and_estimates(
        self, input: RouterInput, candidates: list[ExpertRef], ctx: Context
    ) -> tuple[np.ndarray, np.ndarray]:
        """UCB1 scores, and as estimates the same without the bonus (the mean reward; the prior
        for an expert never tried)."""
        total = sum(self.scores[int(ref.id)].pulls for ref in candidates)
        values, estimates = [], []
        for ref in candidates:
            score = self.scores[int(ref.id)]
            latency = score.latency_ms if score.pulls else (self.stats.latency_ms(ref.id) or 0.0)
            penalty = self.cost_weight * self.expected_cost(ref) + self.latency_weight * latency
            values.append(score.ucb(total, self.exploration, self.prior) - penalty)
            estimates.append((score.quality if score.pulls else self.prior) - penalty)
        return np.asarray(values), np.asarray(estimates)

    def update(self, x: np.ndarray | None, expert_id: ExpertId, reward: float, decision: Decision) -> None:
        eid = int(expert_id)
        self.scores[eid].learn(reward, self.stats.latency_ms(expert_id), self.stats.cost_units(expert_id))

    def model_state(self) -> dict[str, Any]:
        ids = sorted(self.scores)
        return {
            "expert_ids": np.asarray(ids, dtype=np.uint64),
            "pulls": np.asarray([self.scores[i].pulls for i in ids], dtype=np.int64),
            "reward_sum": np.asarray([self.scores[i].reward_sum for i in ids]),
            "latency_ms": np.asarray([self.scores[i].latency_ms for i in ids]),
            "cost_units": np.asarray([self.scores[i].cost_units for i in ids]),
        }

    def load_model_state(self, state: dict[str, Any]) -> None:
        for i, eid in enumerate(int(v) for v in state["expert_ids"]):
            if eid in self.scores:
                self.scores[eid] = BanditScore(
                    int(state["pulls"][i]),
                    float(state["reward_sum"][i]),
                    float(state["latency_ms"][i]),
                    float(state["cost_units"][i]),
                )
