from .base_router import BaseRouter
from .call_outcome import CallOutcome
from .call_status import CallStatus
from .expert_stats import ExpertStats
from .fanout_result import FanoutResult
from .gate_scores import GateScores
from .gating import entropy, gate_with_policy, softmax_stable, tie_break_keys
from .gating_policy import GatingPolicy
from .router_feedback import RouterFeedback
from .router_input import RouterInput
from .router_ref import RouterRef
from .router_trait import Router
from .static_router import StaticRouter

__all__ = ["BaseRouter", "CallOutcome", "CallStatus", "ExpertStats", "FanoutResult", "GateScores",
           "GatingPolicy", "Router", "RouterFeedback", "RouterInput", "RouterRef", "StaticRouter",
           "entropy", "gate_with_policy", "softmax_stable", "tie_break_keys"]
