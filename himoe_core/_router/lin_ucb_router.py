from __future__ import annotations

from typing import Any

import numpy as np
from himoe_registry import ExpertId

from .._context import Context
from .._decision.decision import Decision
from .._errors import ConfigError, EncodeError
from .._experts.expert_ref import ExpertRef
from .._learning.lin_ucb_model import LinUcbModel
from .gating_policy import GatingPolicy
from .learning_router import LearningRouter
from .option_checks import matrices_fit, real
from .router_input import RouterInput


class LinUcbRouter(LearningRouter):
    """Disjoint LinUCB (Li et al., 2010): per expert, ridge regression of reward on the encoded
    input; logit = θ·x + alpha·sqrt(xᵀA⁻¹x) − cost_weight·cost. Sherman–Morrison updates."""

    kind = "linucb"
    default_policy = GatingPolicy(temperature=0.001, epsilon=0.02)
    """LinUCB explores through its bonus: the gate is near-greedy, with a small floor that keeps
    every expert's propensity above zero (for offline evaluation)."""

    def __init__(self, *, alpha: float = 1.0, ridge: float = 1.0, **options: Any) -> None:
        super().__init__(**options)
        self.alpha = real("alpha", alpha, minimum=0.0)
        self.ridge = real("ridge", ridge, minimum=0.0, strictly=True)
        self.model: LinUcbModel | None = None
        dim = getattr(self.encoder, "dim", None)
        too_big = matrices_fit(self, dim, config=True) if isinstance(dim, int) else None
        if too_big:  # else every request would fail allocating it
            raise ConfigError(f"encoder dim {dim}: {too_big}")

    def _model(self, x: np.ndarray) -> LinUcbModel:
        if self.model is None:
            too_big = matrices_fit(self, x.shape[0] - 1, config=False)
            if too_big:
                raise EncodeError(f"router {self.id!r} cannot learn on {x.shape[0] - 1} features: {too_big}")
            self.model = LinUcbModel(x.shape[0], self.ridge)
        elif self.model.dim != x.shape[0]:
            raise EncodeError(
                f"router {self.id!r} learned on {self.model.dim - 1} features, got {x.shape[0] - 1}; "
                "its encoder changed since it learned: forget what it learned "
                f"with `himoe state reset --router {self.id}` (HiMoE.reset_state(router=…)), or give "
                "the encoder its old dim"
            )
        return self.model

    def exploration(self, widths: np.ndarray) -> np.ndarray:
        """The optimism bonus added to each expert's mean: alpha × width."""
        return self.alpha * widths

    def logits(self, input: RouterInput, candidates: list[ExpertRef], ctx: Context) -> np.ndarray:
        return self.logits_and_estimates(input, candidates, ctx)[0]

    def logits_and_estimates(
        self, input: RouterInput, candidates: list[ExpertRef], ctx: Context
    ) -> tuple[np.ndarray, np.ndarray]:
        """θ·x + exploration − cost, and as estimates θ·x − cost (the ridge mean)."""
        x = self._input_features(input)
        means, widths = self._model(x).mean_and_width([int(ref.id) for ref in candidates], x)
        estimates: np.ndarray = means - self.cost_weight * self.costs(candidates)
        return estimates + self.exploration(widths), estimates

    def update(self, x: np.ndarray, expert_id: ExpertId, reward: float, decision: Decision) -> None:
        self._model(x).learn(int(expert_id), x, reward)

    def model_state(self) -> dict[str, Any]:
        return {} if self.model is None else {"linucb": self.model.state_dict()}

    def load_model_state(self, state: dict[str, Any]) -> None:
        self.model = None  # a state saved before anything was learned has no model
        if "linucb" in state:
            saved = state["linucb"]
            self.model = LinUcbModel(int(saved["dim"]), float(saved["ridge"]))
            self.model.load_state_dict(saved)
