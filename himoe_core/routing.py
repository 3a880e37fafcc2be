"""The namespace for router, aggregator, orchestrator and encoder authors: the Router protocol
and BaseRouter to build on, the router kinds, gating, the fan-out's records, aggregators,
orchestrators, encoders, and the learning models routers are made of::

    from himoe_core.routing import BaseRouter, GateScores, RouterFeedback

A router kind usually subclasses BaseRouter and scores candidates (`logits`); one written from
scratch implements `Router`. Register either with the `register_routers` hook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._lazy_exports import public_namespace

if TYPE_CHECKING:  # the exports, read at run time by public_namespace: one list, three uses
    from himoe_registry import ExpertId as ExpertId
    from himoe_registry import stable_id as stable_id

    from ._aggregator import AggregatedOut as AggregatedOut
    from ._aggregator import Aggregator as Aggregator
    from ._aggregator import BestScoreAggregator as BestScoreAggregator
    from ._aggregator import ConfidenceAggregator as ConfidenceAggregator
    from ._aggregator import MixMeta as MixMeta
    from ._aggregator import WeightedMeanAggregator as WeightedMeanAggregator
    from ._aggregator import WeightedVoteAggregator as WeightedVoteAggregator
    from ._context import Memory as Memory
    from ._decision.decision_codec import decode as decode_decision  # noqa: F401 (an export, renamed)
    from ._decision.decision_codec import encode as encode_decision  # noqa: F401 (an export, renamed)
    from ._encoder import Encoded as Encoded
    from ._encoder import Encoder as Encoder
    from ._encoder import FeaturesEncoder as FeaturesEncoder
    from ._encoder import HashingEncoder as HashingEncoder
    from ._errors import AggregationFailed as AggregationFailed
    from ._errors import EncodeError as EncodeError
    from ._experts import ExpertInfo as ExpertInfo
    from ._experts import ExpertRef as ExpertRef
    from ._experts import ExpertRegistry as ExpertRegistry
    from ._input import InputKind as InputKind
    from ._input import InputLimits as InputLimits
    from ._learning import BanditScore as BanditScore
    from ._learning import DiagonalLogisticModel as DiagonalLogisticModel
    from ._learning import LinUcbModel as LinUcbModel
    from ._learning.regularizers import cv_squared as cv_squared
    from ._learning.regularizers import entropy as entropy
    from ._orchestrator import OrchestrationFeedback as OrchestrationFeedback
    from ._orchestrator import Orchestrator as Orchestrator
    from ._orchestrator import RouteRule as RouteRule
    from ._orchestrator import RulesOrchestrator as RulesOrchestrator
    from ._router import BaseRouter as BaseRouter
    from ._router import CallOutcome as CallOutcome
    from ._router import CallStatus as CallStatus
    from ._router import CascadeRouter as CascadeRouter
    from ._router import ExpertStats as ExpertStats
    from ._router import FanoutResult as FanoutResult
    from ._router import GateScores as GateScores
    from ._router import GatingPolicy as GatingPolicy
    from ._router import HybridRouter as HybridRouter
    from ._router import LearningRouter as LearningRouter
    from ._router import LinearRouter as LinearRouter
    from ._router import LinearThompsonRouter as LinearThompsonRouter
    from ._router import LinUcbRouter as LinUcbRouter
    from ._router import LogisticRouter as LogisticRouter
    from ._router import Router as Router
    from ._router import RouterFeedback as RouterFeedback
    from ._router import RouterInput as RouterInput
    from ._router import RouterRef as RouterRef
    from ._router import StaticRouter as StaticRouter
    from ._router import SymbolicRouter as SymbolicRouter
    from ._router import gate_with_policy as gate_with_policy
    from ._router import softmax_stable as softmax_stable
    from ._router import tie_break_keys as tie_break_keys
    from ._value import convert as convert
    from ._value import to_value as to_value

__getattr__, __dir__, __all__ = public_namespace(__name__)
