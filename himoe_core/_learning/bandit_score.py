from __future__ import annotations

import math
from typing import Any

import attrs


@attrs.define
class BanditScore:
    """One expert's running quality, latency and cost, learned from reward (seed §3
    "Expert.score (symbolique)": a bandit score from latency and quality).

    `quality` is the mean reward; latency and cost are exponentially weighted means.
    """

    pulls: int = 0
    reward_sum: float = 0.0
    latency_ms: float = 0.0
    cost_units: float = 0.0

    @property
    def quality(self) -> float:
        return self.reward_sum / self.pulls if self.pulls else 0.0

    def learn(
        self, reward: float, latency_ms: float | None = None, cost_units: float | None = None, alpha: float = 0.1
    ) -> None:
        self.pulls += 1
        self.reward_sum += reward
        if latency_ms is not None:
            self.latency_ms = (
                latency_ms if self.pulls == 1 else self.latency_ms + alpha * (latency_ms - self.latency_ms)
            )
        if cost_units is not None:
            self.cost_units = (
                cost_units if self.pulls == 1 else self.cost_units + alpha * (cost_units - self.cost_units)
            )

    def ucb(self, total_pulls: int, exploration: float, prior: float) -> float:
        """Mean reward plus a UCB1 bonus; `prior` (optimistic) for an expert never tried."""
        if self.pulls == 0:
            return prior
        return self.quality + exploration * math.sqrt(2.0 * math.log(max(total_pulls, 1) + 1) / self.pulls)

    def to_jsonable(self) -> dict[str, Any]:
        return attrs.asdict(self)
