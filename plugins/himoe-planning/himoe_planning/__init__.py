"""himoe-planning: symbolic planning experts for himoe."""

from .experts.planning.rule_planner import RulePlanner

__all__ = ["RulePlanner"]
