"""himoe: hierarchical mixtures of heterogeneous experts.

What an application and an expert plugin need::

    from himoe_core import ExpertOut, HiMoE, Value, hookimpl

Router, aggregator, orchestrator and encoder authors import from `himoe_core.routing`; test
helpers are in `himoe_core.testing`. Everything else is internal and may change.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy_exports import public_namespace

if TYPE_CHECKING:  # the exports, read at run time by public_namespace: one list, three uses
    from ._context import CancelToken as CancelToken
    from ._context import Context as Context
    from ._decision import Decision as Decision
    from ._engine import HiMoE as HiMoE
    from ._engine import Response as Response
    from ._errors import BudgetExceeded as BudgetExceeded
    from ._errors import Cancelled as Cancelled
    from ._errors import ConfigError as ConfigError
    from ._errors import DeadlineExceeded as DeadlineExceeded
    from ._errors import ExpertFailed as ExpertFailed
    from ._errors import InvalidInput as InvalidInput
    from ._errors import MoeError as MoeError
    from ._errors import NoExpertSelected as NoExpertSelected
    from ._errors import PluginError as PluginError
    from ._errors import StateError as StateError
    from ._experts import Expert as Expert
    from ._experts import ExpertAux as ExpertAux
    from ._experts import ExpertOut as ExpertOut
    from ._input import InputData as InputData
    from ._value import Plan as Plan
    from ._value import PlanStep as PlanStep
    from ._value import Value as Value
    from ._value import ValueKind as ValueKind
    from ._version import __version__ as __version__
    from .plugins import hookimpl as hookimpl

__getattr__, __dir__, __all__ = public_namespace(__name__)
