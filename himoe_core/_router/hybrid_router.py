from __future__ import annotations

from typing import Any

import numpy as np
from himoe_registry import ExpertId

from .._decision.decision import Decision
from .._experts.expert_ref import ExpertRef
from .._learning.bandit_score import BanditScore
from .lin_ucb_router import LinUcbRouter
from .option_checks import count, real
from .router_input import RouterInput


class HybridRouter(LinUcbRouter):
    """Symbolic filtering, learned scores among the survivors: `can_handle` first, then experts
    whose mean reward stayed below `min_quality` after `min_pulls` tries are filtered out
    (unless that would leave none), and LinUCB ranks the rest."""

    kind = "hybrid"

    def __init__(self, *, min_quality: float = 0.2, min_pulls: int = 20, **options: Any) -> None:
        super().__init__(**options)
        self.min_quality = real("min_quality", min_quality)
        self.min_pulls = count("min_pulls", min_pulls, minimum=0)
        self.scores: dict[int, BanditScore] = {int(ref.id): BanditScore() for ref in self.experts}

    def add_experts(self, experts: Any) -> None:
        super().add_experts(experts)
        for ref in self.experts:
            self.scores.setdefault(int(ref.id), BanditScore())

    def candidates(self, input: RouterInput) -> list[ExpertRef]:
        capable = super().candidates(input)
        kept = [
            ref
            for ref in capable
            if self.scores[int(ref.id)].pulls < self.min_pulls or self.scores[int(ref.id)].quality >= self.min_quality
        ]
        return kept or capable

    def update(self, x: np.ndarray, expert_id: ExpertId, reward: float, decision: Decision) -> None:
        super().update(x, expert_id, reward, decision)
        self.scores[int(expert_id)].learn(reward)

    def model_state(self) -> dict[str, Any]:
        ids = sorted(self.scores)
        return {
            **super().model_state(),
            "expert_ids": np.asarray(ids, dtype=np.uint64),
            "pulls": np.asarray([self.scores[i].pulls for i in ids], dtype=np.int64),
            "reward_sum": np.asarray([self.scores[i].reward_sum for i in ids]),
        }

    def load_model_state(self, state: dict[str, Any]) -> None:
        super().load_model_state(state)
        for i, eid in enumerate(int(v) for v in state.get("expert_ids", [])):
            if eid in self.scores:
                self.scores[eid] = BanditScore(int(state["pulls"][i]), float(state["reward_sum"][i]))
