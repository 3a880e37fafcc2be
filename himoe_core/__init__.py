"""himoe: hierarchical mixtures of heterogeneous experts.

What an application and an expert plugin need::

    from himoe_core import ExpertOut, HiMoE, Value, hookimpl

Router, aggregator, orchestrator and encoder authors import from `himoe_core.routing`; test
helpers are in `himoe_core.testing`. Everything else is internal and may change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy_exports import public_namespace

if TYPE_CHECKING:  # the exports, read at run time by public_namespace: one list, three uses
    from .context import CancelToken as CancelToken
    from .context import Context as Context
    from .decision import Decision as Decision
    from .engine import HiMoE as HiMoE
    from .engine import Response as Response
    from .errors import BudgetExceeded as BudgetExceeded
    from .errors import Cancelled as Cancelled
    from .errors import ConfigError as ConfigError
    from .errors import DeadlineExceeded as DeadlineExceeded
    from .errors import ExpertFailed as ExpertFailed
    from .errors import InvalidInput as InvalidInput
    from .errors import MoeError as MoeError
    from .errors import NoExpertSelected as NoExpertSelected
    from .errors import PluginError as PluginError
    from .errors import StateError as StateError
    from .experts import Expert as Expert
    from .experts import ExpertAux as ExpertAux
    from .experts import ExpertOut as ExpertOut
    from .input import InputData as InputData
    from .plugins import hookimpl as hookimpl
    from .value import Plan as Plan
    from .value import PlanStep as PlanStep
    from .value import Value as Value
    from .value import ValueKind as ValueKind
    from .version import __version__ as __version__

__getattr__, __dir__, __all__ = public_namespace(__name__)
