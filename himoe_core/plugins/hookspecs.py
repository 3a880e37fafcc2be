"""The hooks a himoe plugin may implement.

Each hook receives a ``register`` callable; call it once per thing the plugin provides. A plugin
implements any subset of them::

    from himoe_core import hookimpl

    @hookimpl
    def register_experts(register):
        register(RulePlanner(max_steps=16))
"""

from .markers import hookspec


@hookspec
def register_experts(register, config):
    """Register experts: call ``register(expert)`` for each Expert instance.

    ``config`` is this plugin's own table of the himoe config, ``[plugins.<distribution>]``
    (an empty dict when there is none) — how a plugin declares experts without code. An
    implementation may leave the ``config`` argument out.
    """


@hookspec
def register_routers(register):
    """Register router kinds: call ``register(kind, factory)``; ``factory(**options)`` builds a
    Router from its config table (``experts``, ``k``, ``aggregator``, …)."""


@hookspec
def register_aggregators(register):
    """Register aggregators: call ``register(aggregator)``; its ``id`` names it in config."""


@hookspec
def register_orchestrators(register):
    """Register orchestrator kinds: call ``register(kind, factory)``; ``factory(**options)``
    builds an Orchestrator from its config table."""


@hookspec
def register_encoders(register):
    """Register encoders: call ``register(encoder)``; its ``id`` names it in config."""
