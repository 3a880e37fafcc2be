from .base_router import BaseRouter
from .call_outcome import CallOutcome
from .call_status import CallStatus
from .expert_stats import ExpertStats
from .fanout_result import FanoutResult
from .gate_scores import GateScores
from .gating import entropy, gate_with_policy, softmax_stable, tie_break_keys
from .gating_policy import GatingPolicy
from .hybrid_router import HybridRouter
from .learning_router import LearningRouter
from .lin_ucb_router import LinUcbRouter
from .linear_router import LinearRouter
from .linear_thompson_router import LinearThompsonRouter
from .router_feedback import RouterFeedback
from .router_input import RouterInput
from .router_ref import RouterRef
from .router_trait import Router
from .static_router import StaticRouter
from .symbolic_router import SymbolicRouter

__all__ = ["BaseRouter", "CallOutcome", "CallStatus", "ExpertStats", "FanoutResult", "GateScores",
           "GatingPolicy", "HybridRouter", "LearningRouter", "LinUcbRouter", "LinearRouter", "LinearThompsonRouter", "Router", "RouterFeedback", "RouterInput", "RouterRef", "StaticRouter", "SymbolicRouter",
           "entropy", "gate_with_policy", "softmax_stable", "tie_break_keys"]
