from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy_exports import lazy_exports

if TYPE_CHECKING:
    from .orchestration_feedback import OrchestrationFeedback
    from .orchestrator_trait import Orchestrator
    from .route_rule import RouteRule
    from .rules_orchestrator import RulesOrchestrator

_EXPORTS = {
    "OrchestrationFeedback": ".orchestration_feedback",
    "Orchestrator": ".orchestrator_trait",
    "RouteRule": ".route_rule",
    "RulesOrchestrator": ".rules_orchestrator",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = ["OrchestrationFeedback", "Orchestrator", "RouteRule", "RulesOrchestrator"]
