"""The entry point himoe loads: registers this distribution's experts (cheap: no sympy here)."""

from himoe_core import hookimpl

from .experts.math.math_sympy import MathSympy


@hookimpl
def register_experts(register, config):
    register(MathSympy.from_config(config))
