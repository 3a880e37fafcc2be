"""Learning models and measures that routers are built from: disjoint LinUCB arms, diagonal
logistic arms, per-expert bandit scores, the router loss's regularisers, guardrail metrics and off-policy estimators."""

from .bandit_score import BanditScore
from .diagonal_logistic_model import DiagonalLogisticModel
from .lin_ucb_model import LinUcbModel

__all__ = ["BanditScore", "DiagonalLogisticModel", "LinUcbModel"]
