"""Building the expert a [ray.experts.<key>] table names, the same way in the caller and in a
replica: an installed plugin's expert through himoe's own plugin loading, or an import path."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from himoe_core import ConfigError
from himoe_core.plugins import PluginHost

RAY_DISTRIBUTION = "himoe-ray"


def build_from_spec(spec: Mapping[str, Any]) -> Any:
    """The expert described by `spec` (plain data, see `replica_spec`), built in this process."""
    if spec["path"] is not None:
        return build_from_import_path(spec["path"], spec["kwargs"], where=f"ray.experts.{spec['path']!r}")
    # Every installed plugin but this one (whose [ray] table would host the expert again), with
    # the caller's [plugins.*] tables: the expert as the caller's own plugin host built it.
    host = PluginHost(
        config={"plugins": dict(spec["plugins_config"])},
        strict=False,
        environ={"HIMOE_DISABLE_PLUGINS": RAY_DISTRIBUTION},
        warn=lambda line: None,
    )
    expert = host.experts.get_by_name(spec["name"])
    if expert is None:
        failed = "; ".join(f"{info.label}: {info.error}" for info in host.failures())
        raise LookupError(
            f"no expert named {spec['name']!r} is installed where this replica runs"
            + (f" (plugins that failed to load here: {failed})" if failed else "")
            + "; install its plugin on every Ray node, or name the expert by import path"
        )
    return expert


def build_from_import_path(path: str, kwargs: Mapping[str, Any], *, where: str) -> Any:
    module_name, _, attribute = path.partition(":")
    try:
        target: Any = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"{where}: cannot import {path!r}: {type(exc).__name__}: {exc}") from None
    if not callable(target):
        raise ConfigError(f"{where}: {path!r} is not a class or function that builds an expert")
    try:
        expert = target(**kwargs)
    except TypeError as exc:
        raise ConfigError(f"{where}.kwargs: {path!r} refused {dict(kwargs)!r}: {exc}") from None
    for attribute_name in ("name", "can_handle", "infer"):
        if not hasattr(expert, attribute_name):
            raise ConfigError(
                f"{where}: {path!r} built {expert!r}, which has no {attribute_name}; "
                "an expert needs name, can_handle(task) and infer(x, ctx)"
            )
    return expert


def replica_spec(name: str, path: str | None, kwargs: Mapping[str, Any], plugins_config: Mapping[str, Any]) -> dict:
    """What a replica is told to build: plain data, no pickled expert."""
    return {"name": name, "path": path, "kwargs": dict(kwargs), "plugins_config": dict(plugins_config)}
