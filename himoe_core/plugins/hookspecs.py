"""The hooks a himoe plugin may implement.

Each hook receives a ``register`` callable; call it once per thing the plugin provides. A plugin
implements any subset of them::

    from himoe_core import hookimpl

    @hookimpl
    def register_experts(register):
        register(RulePlanner(max_steps=16))
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from .markers import hookspec

if TYPE_CHECKING:
    from .._aggregator.aggregator_trait import Aggregator
    from .._encoder.encoder_trait import Encoder
    from .._experts.expert_trait import Expert
    from .._orchestrator.orchestrator_trait import Orchestrator
    from .._router.router_trait import Router


@hookspec
def register_experts(register: Callable[[Expert], None], config: Mapping[str, Any]) -> None:
    """Register experts: call ``register(expert)`` for each Expert instance.

    ``config`` is this plugin's own table of the himoe config, ``[plugins.<distribution>]``
    (an empty dict when there is none) — how a plugin declares experts without code. An
    implementation may leave the ``config`` argument out.
    """


@hookspec
def register_routers(register: Callable[[str, Callable[..., Router]], None]) -> None:
    """Register router kinds: call ``register(kind, factory)``.

    For each ``[routers.<id>]`` table of that kind, himoe calls ``factory(id=…, experts=…,
    aggregator=…, gating=…, k=…, encoder=…, stats=…, **options)`` with the resolved objects
    (a list of ExpertRef, the Aggregator, the gating table, the Encoder or None, the shared
    ExpertStats) and the table's other keys as ``options``; it returns a Router. Raise
    ConfigError (or TypeError for an unknown option) to refuse a bad table."""


@hookspec
def register_aggregators(register: Callable[[Aggregator], None]) -> None:
    """Register aggregators: call ``register(aggregator)``; its ``id`` names it in config."""


@hookspec
def register_orchestrators(register: Callable[[str, Callable[..., Orchestrator]], None]) -> None:
    """Register orchestrator kinds: call ``register(kind, factory)``; ``factory(**options)``
    builds an Orchestrator from its config table."""


@hookspec
def register_encoders(register: Callable[[Encoder], None]) -> None:
    """Register encoders: call ``register(encoder)``; its ``id`` names it in config."""


@hookspec
def register_config_tables(register: Callable[[str], None]) -> None:
    """Claim top-level tables of the himoe config: call ``register(name)`` for each.

    A top-level table that neither himoe nor a loaded plugin claims is a ConfigError, as any
    unknown key is; a claimed one is the plugin's to read and check (in ``replace_experts``,
    which receives the whole config). Two plugins claiming one name is a PluginError."""


@hookspec
def replace_experts(
    experts: Mapping[str, Expert],
    replace: Callable[[Expert], None],
    register: Callable[[Expert], None],
    config: Mapping[str, Any],
) -> None:
    """Take the place of experts other plugins registered, e.g. to host them elsewhere.

    Called once every plugin's ``register_*`` hooks ran. ``experts`` maps each registered
    expert's name to the expert (a read-only snapshot); ``replace(expert)`` puts `expert` in
    the place of the registered expert of the same name, which keeps its id and its plugin;
    ``register(expert)`` adds a new expert, as ``register_experts`` does. ``config`` is the
    whole checked himoe config, including the tables this plugin claimed. Two plugins
    replacing one expert is a PluginError."""
