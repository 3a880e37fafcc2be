"""himoe's built-in routers, aggregators, orchestrators and encoders, registered through the same
hooks as any third-party plugin (disable them with ``HIMOE_DISABLE_PLUGINS=himoe``)."""

from ..aggregator.best_score_aggregator import BestScoreAggregator
from ..aggregator.confidence_aggregator import ConfidenceAggregator
from ..aggregator.weighted_mean_aggregator import WeightedMeanAggregator
from ..aggregator.weighted_vote_aggregator import WeightedVoteAggregator
from ..orchestrator.rules_orchestrator import RulesOrchestrator
from .markers import hookimpl


def static_router(**options):
    """Build a StaticRouter; imported on first use so that listing experts stays light."""
    from ..router.static_router import StaticRouter

    return StaticRouter(**options)


@hookimpl
def register_routers(register):
    register("static", static_router)


@hookimpl
def register_aggregators(register):
    for aggregator in (BestScoreAggregator(), WeightedVoteAggregator(), WeightedMeanAggregator(), ConfidenceAggregator()):
        register(aggregator)


@hookimpl
def register_orchestrators(register):
    register("rules", RulesOrchestrator.from_config)
