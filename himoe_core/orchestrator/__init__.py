from .orchestration_feedback import OrchestrationFeedback
from .orchestrator_trait import Orchestrator

__all__ = ["OrchestrationFeedback", "Orchestrator"]
