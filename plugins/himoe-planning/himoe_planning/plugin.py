"""The entry point himoe loads: registers this distribution's experts (cheap to import)."""

from himoe_core import hookimpl

from .experts.planning.rule_planner import RulePlanner


@hookimpl
def register_experts(register):
    register(RulePlanner(max_steps=16))
