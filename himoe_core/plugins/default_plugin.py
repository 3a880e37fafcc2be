"""himoe's built-in routers, aggregators, orchestrators and encoders, registered through the same
hooks as any third-party plugin (disable them with ``HIMOE_DISABLE_PLUGINS=himoe``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .._aggregator.best_score_aggregator import BestScoreAggregator
from .._aggregator.confidence_aggregator import ConfidenceAggregator
from .._aggregator.weighted_mean_aggregator import WeightedMeanAggregator
from .._aggregator.weighted_vote_aggregator import WeightedVoteAggregator
from .._orchestrator.rules_orchestrator import RulesOrchestrator
from .markers import hookimpl

if TYPE_CHECKING:
    from .._aggregator.aggregator_trait import Aggregator
    from .._encoder.encoder_trait import Encoder
    from .._orchestrator.orchestrator_trait import Orchestrator
    from .._router.router_trait import Router

ROUTER_CLASSES = {
    "static": "static_router:StaticRouter",
    "symbolic": "symbolic_router:SymbolicRouter",
    "linear": "linear_router:LinearRouter",
    "linucb": "lin_ucb_router:LinUcbRouter",
    "thompson": "linear_thompson_router:LinearThompsonRouter",
    "hybrid": "hybrid_router:HybridRouter",
    "logistic": "logistic_router:LogisticRouter",
    "cascade": "cascade_router:CascadeRouter",
}


def router_factory(kind: str) -> Callable[..., Router]:
    """A factory that imports the router class on first use, so listing experts stays light."""
    module_name, class_name = ROUTER_CLASSES[kind].split(":")

    def build(**options: Any) -> Router:
        import importlib

        module = importlib.import_module(f".._router.{module_name}", __package__)
        router: Router = getattr(module, class_name)(**options)
        return router

    build.__name__ = f"{kind}_router"
    return build


@hookimpl
def register_routers(register: Callable[[str, Callable[..., Router]], None]) -> None:
    for kind in ROUTER_CLASSES:
        register(kind, router_factory(kind))


@hookimpl
def register_aggregators(register: Callable[[Aggregator], None]) -> None:
    for aggregator in (
        BestScoreAggregator(),
        WeightedVoteAggregator(),
        WeightedMeanAggregator(),
        ConfidenceAggregator(),
    ):
        register(aggregator)


@hookimpl
def register_orchestrators(register: Callable[[str, Callable[..., Orchestrator]], None]) -> None:
    register("rules", RulesOrchestrator.from_config)


@hookimpl
def register_encoders(register: Callable[[Encoder], None]) -> None:
    from .._encoder.features_encoder import FeaturesEncoder
    from .._encoder.hashing_encoder import HashingEncoder

    register(HashingEncoder())
    register(FeaturesEncoder())
