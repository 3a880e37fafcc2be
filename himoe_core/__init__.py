"""himoe: hierarchical mixtures of heterogeneous experts.

The public API; everything a user or plugin author needs is importable from here::

    from himoe_core import Expert, InputData, Value, hookimpl
"""

from himoe_registry import ExpertId, stable_id

from .aggregator import AggregatedOut, Aggregator, MixMeta
from .context import CancelToken, Context, Memory
from .encoder import Encoded, Encoder
from .errors import (
    AggregationFailed,
    BudgetExceeded,
    Cancelled,
    ConfigError,
    DeadlineExceeded,
    EncodeError,
    ExpertFailed,
    InvalidInput,
    MoeError,
    NoExpertSelected,
    PluginError,
)
from .experts import Expert, ExpertAux, ExpertInfo, ExpertOut, ExpertRef, ExpertRegistry
from .input import InputData, InputKind, InputLimits
from .orchestrator import OrchestrationFeedback, Orchestrator
from .plugins import PluginHost, PluginInfo, hookimpl, hookspec
from .router import (
    CallOutcome,
    CallStatus,
    FanoutResult,
    GateScores,
    Router,
    RouterFeedback,
    RouterInput,
    RouterRef,
)
from .value import Plan, PlanStep, Value, ValueKind, convert, to_value
from .version import __version__

__all__ = [
    "AggregatedOut",
    "AggregationFailed",
    "Aggregator",
    "BudgetExceeded",
    "CallOutcome",
    "CallStatus",
    "CancelToken",
    "Cancelled",
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
    "FanoutResult",
    "GateScores",
    "InputData",
    "InputKind",
    "InputLimits",
    "InvalidInput",
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
    "Router",
    "RouterFeedback",
    "RouterInput",
    "RouterRef",
    "Value",
    "ValueKind",
    "__version__",
    "convert",
    "hookimpl",
    "hookspec",
    "stable_id",
    "to_value",
]
