from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np

from ..context import Context
from ..errors import EncodeError
from ..experts.expert_ref import ExpertRef
from ..learning.regularizers import entropy_penalty_grad, load_balance_grad
from .gating import softmax_stable
from .learning_router import LearningRouter
from .option_checks import count, real
from .router_feedback import RouterFeedback
from .router_input import RouterInput


class LinearRouter(LearningRouter):
    """A softmax gate over the encoded input, z = W·x, trained online by SGD on

        loss = task_loss + λ·load_balance + μ·(−entropy)

    task_loss is the squared error between the picked expert's logit and its reward (so each
    logit estimates quality); load_balance is the Switch Transformer loss N·Σ f_i·P_i over a
    sliding window of dispatches; the entropy term penalises a gate collapsing onto one expert.
    """

    kind = "linear"

    def __init__(self, *, lr: float = 0.2, l2: float = 1e-4, load_balance: float = 0.01,
                 entropy: float = 0.001, window: int = 256, **options: Any) -> None:
        super().__init__(**options)
        self.lr, self.l2 = real("lr", lr, minimum=0.0), real("l2", l2, minimum=0.0)
        self.lb_weight = real("load_balance", load_balance, minimum=0.0)
        self.entropy_weight = real("entropy", entropy, minimum=0.0)
        window = count("window", window)
        self.arms = [int(ref.id) for ref in self.experts]
        self.index = {arm: i for i, arm in enumerate(self.arms)}
        self.weights: np.ndarray | None = None  # (experts, features)
        self.dispatch: deque[int] = deque(maxlen=window)
        self.last_loss: dict[str, float] = {}

    def _weights(self, x: np.ndarray) -> np.ndarray:
        if self.weights is None:
            self.weights = np.zeros((len(self.arms), x.shape[0]))
        elif self.weights.shape[1] != x.shape[0]:
            raise EncodeError(f"router {self.id!r} learned on {self.weights.shape[1] - 1} features, got {x.shape[0] - 1}")
        return self.weights

    def logits(self, input: RouterInput, candidates: list[ExpertRef], ctx: Context) -> np.ndarray:
        x = self._input_features(input)
        rows = [self.index[int(ref.id)] for ref in candidates]
        return self._weights(x)[rows] @ x - self.cost_weight * self.costs(candidates)

    def learn(self, x: np.ndarray | None, expert_id: int, reward: float, fb: RouterFeedback) -> None:
        weights = self._weights(x)
        rows = [self.index[int(eid)] for eid, _ in fb.propensities if int(eid) in self.index] or list(range(len(self.arms)))
        picked = self.index[int(expert_id)]
        if picked not in rows:
            rows.append(picked)
        z = weights[rows] @ x
        temperature = self.policy.temperature
        probs = softmax_stable(z, temperature)
        self.dispatch.append(picked)
        counts = np.bincount(np.asarray(self.dispatch), minlength=len(self.arms))[rows].astype(np.float64)
        share = counts / max(counts.sum(), 1.0)
        grad = np.zeros(len(rows))
        position = rows.index(picked)
        grad[position] = z[position] - reward
        grad += self.lb_weight * load_balance_grad(probs, share, temperature)
        grad += self.entropy_weight * entropy_penalty_grad(probs, temperature)
        weights[rows] -= self.lr * (np.outer(grad, x) + self.l2 * weights[rows])
        self.last_loss = {"task": 0.5 * float(z[position] - reward) ** 2,
                          "load_balance": float(len(rows) * share @ probs),
                          "entropy": float(-(probs * np.log(np.clip(probs, 1e-12, 1))).sum())}

    def model_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {"arms": np.asarray(self.arms, dtype=np.uint64),
                                 "dispatch": np.asarray(self.dispatch, dtype=np.int64)}
        if self.weights is not None:
            state["weights"] = self.weights
        return state

    def load_model_state(self, state: dict[str, Any]) -> None:
        saved_arms = [int(a) for a in state["arms"]]
        if "weights" in state:
            saved = np.asarray(state["weights"], dtype=np.float64)
            self.weights = np.zeros((len(self.arms), saved.shape[1]))
            for i, arm in enumerate(saved_arms):
                if arm in self.index:
                    self.weights[self.index[arm]] = saved[i]
        remap = {i: self.index[arm] for i, arm in enumerate(saved_arms) if arm in self.index}
        self.dispatch.clear()
        self.dispatch.extend(remap[int(i)] for i in state["dispatch"] if int(i) in remap)
