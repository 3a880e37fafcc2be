from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy_exports import lazy_exports

if TYPE_CHECKING:
    from .._learning.regularizers import entropy
    from .base_router import BaseRouter
    from .call_outcome import CallOutcome
    from .call_status import CallStatus
    from .cascade_router import CascadeRouter
    from .expert_stats import ExpertStats
    from .fanout_result import FanoutResult
    from .gate_scores import GateScores
    from .gating import gate_with_policy, softmax_stable, tie_break_keys
    from .gating_policy import GatingPolicy
    from .hybrid_router import HybridRouter
    from .learning_router import LearningRouter
    from .lin_ucb_router import LinUcbRouter
    from .linear_router import LinearRouter
    from .linear_thompson_router import LinearThompsonRouter
    from .logistic_router import LogisticRouter
    from .router_feedback import RouterFeedback
    from .router_input import RouterInput
    from .router_ref import RouterRef
    from .router_trait import Router
    from .static_router import StaticRouter
    from .symbolic_router import SymbolicRouter

_EXPORTS = {
    "BaseRouter": ".base_router",
    "CallOutcome": ".call_outcome",
    "CallStatus": ".call_status",
    "ExpertStats": ".expert_stats",
    "FanoutResult": ".fanout_result",
    "GateScores": ".gate_scores",
    "entropy": ".._learning.regularizers",
    "gate_with_policy": ".gating",
    "softmax_stable": ".gating",
    "tie_break_keys": ".gating",
    "GatingPolicy": ".gating_policy",
    "HybridRouter": ".hybrid_router",
    "LearningRouter": ".learning_router",
    "LinUcbRouter": ".lin_ucb_router",
    "LinearRouter": ".linear_router",
    "LinearThompsonRouter": ".linear_thompson_router",
    "LogisticRouter": ".logistic_router",
    "CascadeRouter": ".cascade_router",
    "RouterFeedback": ".router_feedback",
    "RouterInput": ".router_input",
    "RouterRef": ".router_ref",
    "Router": ".router_trait",
    "StaticRouter": ".static_router",
    "SymbolicRouter": ".symbolic_router",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "BaseRouter",
    "CallOutcome",
    "CallStatus",
    "ExpertStats",
    "FanoutResult",
    "GateScores",
    "GatingPolicy",
    "HybridRouter",
    "LearningRouter",
    "LinUcbRouter",
    "LinearRouter",
    "LinearThompsonRouter",
    "LogisticRouter",
    "CascadeRouter",
    "Router",
    "RouterFeedback",
    "RouterInput",
    "RouterRef",
    "StaticRouter",
    "SymbolicRouter",
    "entropy",
    "gate_with_policy",
    "softmax_stable",
    "tie_break_keys",
]
