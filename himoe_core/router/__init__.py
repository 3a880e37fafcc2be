from .call_outcome import CallOutcome
from .call_status import CallStatus
from .fanout_result import FanoutResult
from .gate_scores import GateScores
from .router_feedback import RouterFeedback
from .router_input import RouterInput
from .router_ref import RouterRef
from .router_trait import Router

__all__ = ["CallOutcome", "CallStatus", "FanoutResult", "GateScores", "Router", "RouterFeedback",
           "RouterInput", "RouterRef"]
