from __future__ import annotations

from collections import deque
from typing import Any

import numpy as np
from himoe_registry import ExpertId

from .._context import Context
from .._decision.decision import Decision
from .._errors import ConfigError, EncodeError
from .._experts.expert_ref import ExpertRef
from .._learning.regularizers import entropy, entropy_penalty_grad, load_balance_grad
from .gating import softmax_stable
from .learning_router import LearningRouter
from .option_checks import count, real
from .router_input import RouterInput

OPTIMIZERS = ("adagrad", "nlms", "sgd")


class LinearRouter(LearningRouter):
    """A softmax gate over the encoded input, z = W·x, trained online by gradient steps on

        loss = task_loss + λ·load_balance + μ·(−entropy)

    task_loss is the squared error between the picked expert's logit and its reward (so each
    logit estimates quality), importance-weighted by 1/propensity (clipped at `ips_clip`) so
    that the bandit loss estimates the full-information one; load_balance is the Switch
    Transformer loss N·Σ f_i·P_i over a sliding window of dispatches; the entropy term penalises
    a gate collapsing onto one expert.

    The step is well-behaved on raw features: `adagrad` (the default) scales each coordinate's
    step by 1/sqrt(its accumulated squared gradient); `nlms` divides the step by 1 + ‖x‖²
    (normalised LMS, stable for lr < 2 whatever the scale of x); `sgd` is the plain step
    (diverges once lr·‖x‖² > 2).
    """

    kind = "linear"

    def __init__(
        self,
        *,
        lr: float = 0.2,
        l2: float = 1e-4,
        load_balance: float = 0.01,
        entropy: float = 0.001,
        window: int = 256,
        optimizer: str = "adagrad",
        ips_clip: float = 10.0,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self.lr, self.l2 = real("lr", lr, minimum=0.0), real("l2", l2, minimum=0.0)
        if optimizer not in OPTIMIZERS:
            raise ConfigError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
        self.optimizer = optimizer
        self.ips_clip = real("ips_clip", ips_clip, minimum=1.0)
        self.lb_weight = real("load_balance", load_balance, minimum=0.0)
        self.entropy_weight = real("entropy", entropy, minimum=0.0)
        window = count("window", window)
        self.arms = [int(ref.id) for ref in self.experts]
        self.index = {arm: i for i, arm in enumerate(self.arms)}
        self.weights: np.ndarray | None = None  # (experts, features)
        self.grad_sq: np.ndarray | None = None  # AdaGrad's accumulated squared gradients, same shape
        self.dispatch: deque[int] = deque(maxlen=window)
        self.last_loss: dict[str, float] = {}

    def add_experts(self, experts: Any) -> None:
        super().add_experts(experts)
        new = [int(ref.id) for ref in self.experts if int(ref.id) not in self.index]
        self.index.update({arm: len(self.arms) + i for i, arm in enumerate(new)})
        self.arms += new
        if self.weights is not None and new:  # a zero row per new arm; the learned rows stay
            self.weights = np.vstack([self.weights, np.zeros((len(new), self.weights.shape[1]))])
            if self.grad_sq is not None:
                self.grad_sq = np.vstack([self.grad_sq, np.zeros((len(new), self.grad_sq.shape[1]))])

    def _weights(self, x: np.ndarray) -> np.ndarray:
        if self.weights is None:
            self.weights = np.zeros((len(self.arms), x.shape[0]))
            self.grad_sq = np.zeros_like(self.weights)
        elif self.weights.shape[1] != x.shape[0]:
            raise EncodeError(
                f"router {self.id!r} learned on {self.weights.shape[1] - 1} features, got {x.shape[0] - 1}; "
                "its encoder changed since it learned: forget what it learned "
                f"with `himoe state reset --router {self.id}` (HiMoE.reset_state(router=…)), or give "
                "the encoder its old dim"
            )
        return self.weights

    def logits(self, input: RouterInput, candidates: list[ExpertRef], ctx: Context) -> np.ndarray:
        x = self._input_features(input)
        rows = [self.index[int(ref.id)] for ref in candidates]
        logits: np.ndarray = self._weights(x)[rows] @ x - self.cost_weight * self.costs(candidates)
        return logits

    def update(self, x: np.ndarray, expert_id: ExpertId, reward: float, decision: Decision) -> None:
        weights = self._weights(x)
        gate = decision.scores.pairs() if decision.scores is not None else ()
        rows = [self.index[int(eid)] for eid, _ in gate if int(eid) in self.index] or list(range(len(self.arms)))
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
        propensity = {int(eid): float(p) for eid, p in gate}.get(int(expert_id))
        weight = 1.0 if not propensity or propensity <= 0 else min(1.0 / propensity, self.ips_clip)
        grad[position] = weight * (z[position] - reward)
        grad += self.lb_weight * load_balance_grad(probs, share, temperature)
        grad += self.entropy_weight * entropy_penalty_grad(probs, temperature)
        step = np.outer(grad, x) + self.l2 * weights[rows]
        if self.optimizer == "adagrad":
            if self.grad_sq is None or self.grad_sq.shape != weights.shape:
                self.grad_sq = np.zeros_like(weights)
            self.grad_sq[rows] += step * step
            weights[rows] -= self.lr * step / (np.sqrt(self.grad_sq[rows]) + 1e-8)
        elif self.optimizer == "nlms":
            weights[rows] -= self.lr * step / (1.0 + float(x @ x))
        else:
            weights[rows] -= self.lr * step
        self.last_loss = {
            "task": 0.5 * float(z[position] - reward) ** 2,
            "load_balance": float(len(rows) * share @ probs),
            "entropy": entropy(probs),
        }

    def model_state(self) -> dict[str, Any]:
        state: dict[str, Any] = {
            "arms": np.asarray(self.arms, dtype=np.uint64),
            "dispatch": np.asarray(self.dispatch, dtype=np.int64),
        }
        if self.weights is not None:
            state["weights"] = self.weights
            if self.grad_sq is not None:
                state["grad_sq"] = self.grad_sq
        return state

    def load_model_state(self, state: dict[str, Any]) -> None:
        saved_arms = [int(a) for a in state["arms"]]
        self.weights = self.grad_sq = None  # a state saved before anything was learned has no weights
        if "weights" in state:
            saved = np.asarray(state["weights"], dtype=np.float64)
            self.weights = np.zeros((len(self.arms), saved.shape[1]))
            self.grad_sq = np.zeros_like(self.weights)
            saved_sq = np.asarray(state["grad_sq"], dtype=np.float64) if "grad_sq" in state else None
            for i, arm in enumerate(saved_arms):
                if arm in self.index:
                    self.weights[self.index[arm]] = saved[i]
                    if saved_sq is not None:
                        self.grad_sq[self.index[arm]] = saved_sq[i]
        remap = {i: self.index[arm] for i, arm in enumerate(saved_arms) if arm in self.index}
        self.dispatch.clear()
        self.dispatch.extend(remap[int(i)] for i in state["dispatch"] if int(i) in remap)
