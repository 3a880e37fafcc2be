"""himoe: hierarchical mixtures of heterogeneous experts.

The public API; everything a user or plugin author needs is importable from here::

    from himoe_core import Expert, InputData, Value, hookimpl
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from himoe_registry import ExpertId, stable_id

from .lazy_exports import lazy_exports

if TYPE_CHECKING:
    from .aggregator import AggregatedOut, Aggregator, BestScoreAggregator, ConfidenceAggregator, MixMeta, WeightedMeanAggregator, WeightedVoteAggregator
    from .config.config_parsing import load_config
    from .context import CancelToken, Context, Memory
    from .encoder import Encoded, Encoder, FeaturesEncoder, HashingEncoder
    from .errors import AggregationFailed, BudgetExceeded, Cancelled, ConfigError, DeadlineExceeded, EncodeError, ExpertFailed, InvalidInput, MoeError, NoExpertSelected, PluginError, StateError
    from .engine import HiMoE, Response, TraceStore
    from .experts import Expert, ExpertAux, ExpertInfo, ExpertOut, ExpertRef, ExpertRegistry
    from .input import InputData, InputKind, InputLimits
    from .orchestrator import OrchestrationFeedback, Orchestrator, RouteRule, RulesOrchestrator
    from .plugins import PluginHost, PluginInfo, hookimpl, hookspec
    from .router import BaseRouter, HybridRouter, LearningRouter, LinearRouter, LinearThompsonRouter, LinUcbRouter, LogisticRouter, SymbolicRouter, CallOutcome, ExpertStats, GatingPolicy, StaticRouter, gate_with_policy, softmax_stable, CallStatus, FanoutResult, GateScores, Router, RouterFeedback, RouterInput, RouterRef
    from .value import Plan, PlanStep, Value, ValueKind, convert, to_value
    from .version import __version__

_EXPORTS = {
    "AggregatedOut": ".aggregator",
    "Aggregator": ".aggregator",
    "BestScoreAggregator": ".aggregator",
    "ConfidenceAggregator": ".aggregator",
    "MixMeta": ".aggregator",
    "WeightedMeanAggregator": ".aggregator",
    "WeightedVoteAggregator": ".aggregator",
    "load_config": ".config.config_parsing",
    "CancelToken": ".context",
    "Context": ".context",
    "Memory": ".context",
    "Encoded": ".encoder",
    "Encoder": ".encoder",
    "FeaturesEncoder": ".encoder",
    "HashingEncoder": ".encoder",
    "AggregationFailed": ".errors",
    "BudgetExceeded": ".errors",
    "Cancelled": ".errors",
    "ConfigError": ".errors",
    "DeadlineExceeded": ".errors",
    "EncodeError": ".errors",
    "ExpertFailed": ".errors",
    "InvalidInput": ".errors",
    "MoeError": ".errors",
    "NoExpertSelected": ".errors",
    "PluginError": ".errors",
    "StateError": ".errors",
    "HiMoE": ".engine",
    "Response": ".engine",
    "TraceStore": ".engine",
    "Expert": ".experts",
    "ExpertAux": ".experts",
    "ExpertInfo": ".experts",
    "ExpertOut": ".experts",
    "ExpertRef": ".experts",
    "ExpertRegistry": ".experts",
    "InputData": ".input",
    "InputKind": ".input",
    "InputLimits": ".input",
    "OrchestrationFeedback": ".orchestrator",
    "Orchestrator": ".orchestrator",
    "RouteRule": ".orchestrator",
    "RulesOrchestrator": ".orchestrator",
    "PluginHost": ".plugins",
    "PluginInfo": ".plugins",
    "hookimpl": ".plugins",
    "hookspec": ".plugins",
    "BaseRouter": ".router",
    "HybridRouter": ".router",
    "LearningRouter": ".router",
    "LinearRouter": ".router",
    "LinearThompsonRouter": ".router",
    "LogisticRouter": ".router",
    "LinUcbRouter": ".router",
    "SymbolicRouter": ".router",
    "CallOutcome": ".router",
    "ExpertStats": ".router",
    "GatingPolicy": ".router",
    "StaticRouter": ".router",
    "gate_with_policy": ".router",
    "softmax_stable": ".router",
    "CallStatus": ".router",
    "FanoutResult": ".router",
    "GateScores": ".router",
    "Router": ".router",
    "RouterFeedback": ".router",
    "RouterInput": ".router",
    "RouterRef": ".router",
    "Plan": ".value",
    "PlanStep": ".value",
    "Value": ".value",
    "ValueKind": ".value",
    "convert": ".value",
    "to_value": ".value",
    "__version__": ".version",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "AggregatedOut",
    "AggregationFailed",
    "Aggregator",
    "BaseRouter",
    "BestScoreAggregator",
    "BudgetExceeded",
    "CallOutcome",
    "CallStatus",
    "CancelToken",
    "Cancelled",
    "ConfidenceAggregator",
    "ConfigError",
    "Context",
    "DeadlineExceeded",
    "EncodeError",
    "Encoded",
    "Encoder",
    "Expert",
    "ExpertAux",
    "ExpertFailed",
    "ExpertId",
    "ExpertInfo",
    "ExpertOut",
    "ExpertRef",
    "ExpertRegistry",
    "ExpertStats",
    "FanoutResult",
    "FeaturesEncoder",
    "GateScores",
    "GatingPolicy",
    "HashingEncoder",
    "HiMoE",
    "HybridRouter",
    "InputData",
    "InputKind",
    "InputLimits",
    "InvalidInput",
    "LearningRouter",
    "LinUcbRouter",
    "LinearRouter",
    "LinearThompsonRouter",
    "LogisticRouter",
    "Memory",
    "MixMeta",
    "MoeError",
    "NoExpertSelected",
    "OrchestrationFeedback",
    "Orchestrator",
    "Plan",
    "PlanStep",
    "PluginError",
    "PluginHost",
    "PluginInfo",
    "Response",
    "RouteRule",
    "Router",
    "RouterFeedback",
    "RouterInput",
    "RouterRef",
    "RulesOrchestrator",
    "StateError",
    "StaticRouter",
    "SymbolicRouter",
    "TraceStore",
    "Value",
    "ValueKind",
    "WeightedMeanAggregator",
    "WeightedVoteAggregator",
    "__version__",
    "convert",
    "gate_with_policy",
    "hookimpl",
    "hookspec",
    "load_config",
    "softmax_stable",
    "stable_id",
    "to_value",
]
