"""The namespace for router, aggregator, orchestrator and encoder authors: the Router protocol
and BaseRouter to build on, the router kinds, gating, the fan-out's records, aggregators,
orchestrators, encoders, and the learning models routers are made of::

    from himoe_core.routing import BaseRouter, GateScores, RouterFeedback

A router kind usually subclasses BaseRouter and scores candidates (`logits`); one written from
scratch implements `Router`. Register either with the `register_routers` hook.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .lazy_exports import public_namespace

if TYPE_CHECKING:  # the exports, read at run time by public_namespace: one list, three uses
    from himoe_registry import ExpertId as ExpertId
    from himoe_registry import stable_id as stable_id

    from .aggregator import AggregatedOut as AggregatedOut
    from .aggregator import Aggregator as Aggregator
    from .aggregator import BestScoreAggregator as BestScoreAggregator
    from .aggregator import ConfidenceAggregator as ConfidenceAggregator
    from .aggregator import MixMeta as MixMeta
    from .aggregator import WeightedMeanAggregator as WeightedMeanAggregator
    from .aggregator import WeightedVoteAggregator as WeightedVoteAggregator
    from .context import Memory as Memory
    from .decision.decision_codec import decode as decode_decision
    from .decision.decision_codec import encode as encode_decision
    from .encoder import Encoded as Encoded
    from .encoder import Encoder as Encoder
    from .encoder import FeaturesEncoder as FeaturesEncoder
    from .encoder import HashingEncoder as HashingEncoder
    from .errors import AggregationFailed as AggregationFailed
    from .errors import EncodeError as EncodeError
    from .experts import ExpertInfo as ExpertInfo
    from .experts import ExpertRef as ExpertRef
    from .experts import ExpertRegistry as ExpertRegistry
    from .input import InputKind as InputKind
    from .input import InputLimits as InputLimits
    from .learning import BanditScore as BanditScore
    from .learning import DiagonalLogisticModel as DiagonalLogisticModel
    from .learning import LinUcbModel as LinUcbModel
    from .learning.regularizers import cv_squared as cv_squared
    from .learning.regularizers import entropy as entropy
    from .orchestrator import OrchestrationFeedback as OrchestrationFeedback
    from .orchestrator import Orchestrator as Orchestrator
    from .orchestrator import RouteRule as RouteRule
    from .orchestrator import RulesOrchestrator as RulesOrchestrator
    from .router import BaseRouter as BaseRouter
    from .router import CallOutcome as CallOutcome
    from .router import CallStatus as CallStatus
    from .router import ExpertStats as ExpertStats
    from .router import FanoutResult as FanoutResult
    from .router import GateScores as GateScores
    from .router import GatingPolicy as GatingPolicy
    from .router import HybridRouter as HybridRouter
    from .router import LearningRouter as LearningRouter
    from .router import LinearRouter as LinearRouter
    from .router import LinearThompsonRouter as LinearThompsonRouter
    from .router import LinUcbRouter as LinUcbRouter
    from .router import LogisticRouter as LogisticRouter
    from .router import Router as Router
    from .router import RouterFeedback as RouterFeedback
    from .router import RouterInput as RouterInput
    from .router import RouterRef as RouterRef
    from .router import StaticRouter as StaticRouter
    from .router import SymbolicRouter as SymbolicRouter
    from .router import gate_with_policy as gate_with_policy
    from .router import softmax_stable as softmax_stable
    from .router import tie_break_keys as tie_break_keys
    from .value import convert as convert
    from .value import to_value as to_value

__getattr__, __dir__, __all__ = public_namespace(__name__)
