"""The MoeError hierarchy: every error himoe raises on purpose."""

from .aggregation_failed import AggregationFailed
from .budget_exceeded import BudgetExceeded
from .cancelled import Cancelled
from .config_error import ConfigError
from .deadline_exceeded import DeadlineExceeded
from .encode_error import EncodeError
from .expert_failed import ExpertFailed
from .invalid_input import InvalidInput
from .moe_error import MoeError
from .no_expert_selected import NoExpertSelected
from .plugin_error import PluginError
from .state_error import StateError

__all__ = [
    "AggregationFailed",
    "BudgetExceeded",
    "Cancelled",
    "ConfigError",
    "DeadlineExceeded",
    "EncodeError",
    "ExpertFailed",
    "InvalidInput",
    "MoeError",
    "NoExpertSelected",
    "PluginError",
    "StateError",
]
