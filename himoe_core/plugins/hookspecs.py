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
    """Register router kinds: call ``register(kind, factory)``.

    For each ``[routers.<id>]`` table of that kind, himoe calls ``factory(id=…, experts=…,
    aggregator=…, gating=…, k=…, encoder=…, stats=…, **options)`` with the resolved objects
    (a list of ExpertRef, the Aggregator, the gating table, the Encoder or None, the shared
    ExpertStats) and the table's other keys as ``options``; it returns a Router. Raise
    ConfigError (or TypeError for an unknown option) to refuse a bad table."""


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
