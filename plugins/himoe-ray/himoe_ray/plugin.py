"""The entry point himoe loads: claims the ``[ray]`` config table and puts a Ray-hosted expert
in the place of each expert it names (cheap: no ray here; Ray is joined on the first call)::

    [ray]
    address = "auto"              # or "local" (the default), "HOST:PORT", "ray://HOST:PORT"
    [ray.experts.math_sympy]      # an installed expert, by name
    replicas = 2                  # or min_replicas / max_replicas (autoscaling)
    num_cpus = 1
    max_concurrency = 4
    [ray.experts."my_pkg.models:Tagger"]   # any expert class, by import path
    kwargs = { size = "large" }
"""

from __future__ import annotations

from himoe_core import ConfigError, hookimpl

from . import __version__
from .expert_building import RAY_DISTRIBUTION, build_from_import_path, replica_spec
from .experts.remote.learning_ray_expert import LearningRayExpert
from .experts.remote.ray_expert import RayExpert
from .ray_connection import RayConnection
from .ray_settings import RaySettings


@hookimpl
def register_config_tables(register):
    register("ray")


@hookimpl
def replace_experts(experts, replace, register, config):
    settings = RaySettings.parse(config.get("ray"))
    if not settings.experts:
        return
    connection = RayConnection.for_address(settings.address, label=f"{RAY_DISTRIBUTION}=={__version__}")
    plugins_config = config.get("plugins", {})
    for hosted in settings.experts:
        if hosted.by_import_path:
            local = build_from_import_path(hosted.key, hosted.kwargs, where=f"ray.experts.{hosted.key!r}")
            spec = replica_spec(local.name, hosted.key, hosted.kwargs, plugins_config)
        else:
            local = experts.get(hosted.key)
            if local is None:
                known = ", ".join(sorted(experts)) or "none installed"
                raise ConfigError(
                    f"ray.experts.{hosted.key}: no installed expert is named {hosted.key!r} "
                    f'(experts: {known}); or name one by import path, "package.module:Class"'
                )
            spec = replica_spec(local.name, None, {}, plugins_config)
        learns = all(callable(getattr(local, m, None)) for m in ("learn", "state_dict", "load_state_dict"))
        remote = (LearningRayExpert if learns else RayExpert)(local, hosted, connection, spec)
        if local.name not in connection.expert_names:
            connection.expert_names.append(local.name)
        (register if hosted.by_import_path else replace)(remote)
    if not _ray_installed():
        connection.disable("ray is not installed; pip install 'ray[serve]'")


def _ray_installed() -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec("ray") is not None
    except (ImportError, ValueError):
        return False
