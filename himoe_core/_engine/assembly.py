"""Building routers and the orchestrator from a checked config and a loaded PluginHost."""

from __future__ import annotations

from typing import Any

from .._config.config_parsing import ROUTER_COMMON_KEYS
from .._errors import ConfigError, MoeError, PluginError
from .._router.base_router import BaseRouter
from .._router.expert_stats import ExpertStats
from .._router.router_ref import RouterRef
from ..plugins.plugin_host import PluginHost, _one_line
from .expert_index import ExpertIndex

# A kind's TypeError names the bad key as given: a key holding a line break must not split the error.
_LINE_BREAKS = str.maketrans({c: repr(c)[1:-1] for c in "\r\n\v\f\x1c\x1d\x1e\x85\u2028\u2029"})


def build_encoder(host: PluginHost, spec: Any, where: str) -> Any:
    """An encoder by id (`encoder = "hashing"`) or with options (`encoder = {id = "hashing", dim = 256}`)."""
    if spec is None:
        return None
    options = dict(spec) if isinstance(spec, dict) else {"id": spec}
    encoder_id = options.pop("id", None)
    encoder = host.encoders.get(encoder_id) if isinstance(encoder_id, str) else None
    if encoder is None:
        raise ConfigError(
            f"{where}: unknown encoder {encoder_id!r}; installed: {', '.join(sorted(host.encoders)) or 'none'}"
        )
    if not options:
        return encoder
    configure = getattr(encoder, "configure", None)
    if configure is None:
        raise ConfigError(f"{where}: encoder {encoder_id!r} takes no options, got {sorted(options)}")
    try:
        return configure(**options)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None


def build_routers(host: PluginHost, config: dict[str, Any], stats: ExpertStats) -> dict[str, RouterRef]:
    routers: dict[str, RouterRef] = {}
    index = ExpertIndex(host.experts)
    for router_id, table in config["routers"].items():
        where = f"routers.{router_id}"
        kind = table["kind"]
        factory = host.router_kinds.get(kind)
        if factory is None:
            raise ConfigError(
                f"{where}.kind: unknown router kind {kind!r}; installed kinds: "
                f"{', '.join(sorted(host.router_kinds)) or 'none'}"
            )
        aggregator = host.aggregators.get(table["aggregator"])
        if aggregator is None:
            raise ConfigError(
                f"{where}.aggregator: unknown aggregator {table['aggregator']!r}; installed: "
                f"{', '.join(sorted(host.aggregators)) or 'none'}"
            )
        encoder = build_encoder(host, table.get("encoder"), f"{where}.encoder")
        experts = index.select(table["experts"], f"{where}.experts")
        extra = {key: value for key, value in table.items() if key not in ROUTER_COMMON_KEYS}
        reserved = sorted(set(extra) & {"id", "policy", "stats"})
        if reserved:
            raise ConfigError(
                f"{where}.{reserved[0]}: not a config key (himoe sets it); configure gating with {where}.gating"
            )
        try:
            router = factory(
                id=router_id,
                experts=experts,
                aggregator=aggregator,
                gating=table.get("gating", {}),
                k=table["k"],
                encoder=encoder,
                stats=stats,
                **extra,
            )
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"{where}: router kind {kind!r} rejected its options: {str(exc).translate(_LINE_BREAKS)}"
            ) from None
        except Exception as exc:  # the plugin's factory is broken: say whose, in one line
            raise PluginError(
                f"{where}: router kind {kind!r} (registered by {_owner(host, 'router_kinds', kind)}) "
                f"failed to build: {_one_line(exc)}"
            ) from exc
        if hasattr(router, "max_output_bytes"):
            router.max_output_bytes = config["limits"].max_output_bytes
        if hasattr(router, "trace_candidates"):
            router.trace_candidates = config["himoe"]["trace_candidates"]
        routers[router_id] = RouterRef(router_id, router, guarded=not _cuts_itself(router))
    return routers


def build_orchestrator(host: PluginHost, config: dict[str, Any], routers: dict[str, RouterRef]) -> Any:
    table = dict(config["orchestrator"])
    kind = table.pop("kind", "rules")
    factory = host.orchestrator_kinds.get(kind)
    if factory is None:
        raise ConfigError(
            f"orchestrator.kind: unknown orchestrator kind {kind!r}; installed kinds: "
            f"{', '.join(sorted(host.orchestrator_kinds)) or 'none'}"
        )
    try:
        return factory(routers=routers, **table)
    except (TypeError, ValueError) as exc:
        raise ConfigError(
            f"orchestrator: kind {kind!r} rejected its options: {str(exc).translate(_LINE_BREAKS)}"
        ) from None
    except MoeError:
        raise
    except Exception as exc:
        raise PluginError(
            f"orchestrator: kind {kind!r} (registered by "
            f"{_owner(host, 'orchestrator_kinds', kind)}) failed to build: {_one_line(exc)}"
        ) from exc


def _owner(host: PluginHost, table: str, name: str) -> str:
    return repr(getattr(host, "_owners", {}).get((table, name), "an unknown plugin"))


def _cuts_itself(router: Any) -> bool:
    """Whether the router runs BaseRouter's own fan-out, which cuts its experts at the deadline
    and returns what finished (RouterRef.guarded). Decided once, here, where plugin code comes
    in, never by looking at a router on a request's path."""
    kind = type(router)
    return (
        isinstance(router, BaseRouter)
        and kind.route is BaseRouter.route
        and kind.call_experts is BaseRouter.call_experts
    )
