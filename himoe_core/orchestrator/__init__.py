from .orchestration_feedback import OrchestrationFeedback
from .orchestrator_trait import Orchestrator
from .route_rule import RouteRule
from .rules_orchestrator import RulesOrchestrator

__all__ = ["OrchestrationFeedback", "Orchestrator", "RouteRule", "RulesOrchestrator"]
