from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .._context import Context
from .._errors import ConfigError
from .._experts.expert_ref import ExpertRef
from .base_router import BaseRouter
from .candidate_index import CandidateIndex
from .router_input import RouterInput


class StaticRouter(BaseRouter):
    """Gates with fixed per-expert priors from config (`weights = {name = score}`, default 0):
    every capable expert is a candidate, ranked by prior then by the deterministic tie-break.
    The default router kind, and the baseline learned routers are measured against."""

    kind = "static"

    def __init__(self, *, weights: Mapping[str, Any] | None = None, **options: Any) -> None:
        super().__init__(**options)
        names = {ref.name for ref in self.experts}
        if weights is not None and not isinstance(weights, Mapping):
            raise ConfigError(f"weights: expected a table of expert name = number, got {weights!r}")
        self.weights: dict[str, float] = {}
        for name, weight in (weights or {}).items():
            if name not in names:
                raise ConfigError(f"routers.{self.id}.weights.{name}: no such expert in this router")
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight):
                raise ConfigError(f"routers.{self.id}.weights.{name}: expected a finite number, got {weight!r}")
            self.weights[name] = float(weight)
        self._priors: tuple[CandidateIndex, np.ndarray] | None = None

    def logits(self, input: RouterInput, candidates: list[ExpertRef], ctx: Context) -> np.ndarray:
        return np.array([self.weights.get(ref.name, 0.0) for ref in candidates], dtype=np.float64)

    def logits_at(
        self, input: RouterInput, index: CandidateIndex, rows: np.ndarray, ctx: Context
    ) -> tuple[np.ndarray, np.ndarray | None]:
        kind = type(self)
        if kind.logits is not StaticRouter.logits or kind.logits_and_estimates is not StaticRouter.logits_and_estimates:
            return super().logits_at(input, index, rows, ctx)  # a subclass scores its own way
        priors = self._priors
        if priors is None or priors[0] is not index:  # one array per index, by position
            priors = self._priors = (
                index,
                np.array([self.weights.get(ref.name, 0.0) for ref in index.experts], dtype=np.float64),
            )
        logits: np.ndarray = priors[1][rows]
        return logits, None
