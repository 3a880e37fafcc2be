from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import attrs

from himoe_core import ConfigError

_KEYS = ("replicas", "min_replicas", "max_replicas", "num_cpus", "num_gpus", "max_concurrency", "kwargs")


@attrs.frozen
class RayPlacement:
    """One ``[ray.experts.<key>]`` table: which expert runs on Ray, and on what.

    `key` is an installed expert's name (``math_sympy``) or an import path
    (``"my_pkg.models:Tagger"``, called with `kwargs` to build the expert). Either `replicas`
    (a fixed count) or `min_replicas`/`max_replicas` (Ray Serve autoscaling between them).
    """

    key: str
    replicas: int | None = None
    min_replicas: int | None = None
    max_replicas: int | None = None
    num_cpus: float = 1.0
    num_gpus: float = 0.0
    max_concurrency: int = 4
    kwargs: Mapping[str, Any] = attrs.field(factory=dict)

    @property
    def by_import_path(self) -> bool:
        return ":" in self.key

    @classmethod
    def parse(cls, key: str, table: Any) -> RayPlacement:
        where = f"ray.experts.{key if ':' not in key else repr(key)}"
        if not isinstance(table, Mapping):
            raise ConfigError(f"{where}: expected a table, got {table!r}")
        unknown = sorted(set(table) - set(_KEYS))
        if unknown:
            raise ConfigError(f"{where}.{unknown[0]}: unknown key; known keys here: {', '.join(sorted(_KEYS))}")
        if ":" in key:
            module, _, attribute = key.partition(":")
            if (
                not module
                or not attribute
                or not all(part.isidentifier() for part in (*module.split("."), *attribute.split(".")))
            ):
                raise ConfigError(
                    f"{where}: expected an expert name or an import path 'package.module:Attribute', got {key!r}"
                )
        elif "kwargs" in table:
            raise ConfigError(
                f"{where}.kwargs: only an expert named by import path takes kwargs; "
                f"{key!r} is built by its own plugin (configure it in [plugins.<its distribution>])"
            )
        options: dict[str, Any] = {}
        for name in ("replicas", "min_replicas", "max_replicas", "max_concurrency"):
            if name in table:
                options[name] = _integer(table[name], f"{where}.{name}", minimum=0 if name == "min_replicas" else 1)
        for name in ("num_cpus", "num_gpus"):
            if name in table:
                options[name] = _number(table[name], f"{where}.{name}")
        if "replicas" in options and ({"min_replicas", "max_replicas"} & set(options)):
            raise ConfigError(
                f"{where}: give either replicas (a fixed count) or min_replicas/max_replicas (autoscaling), not both"
            )
        if ("min_replicas" in options) != ("max_replicas" in options):
            raise ConfigError(f"{where}: autoscaling needs both min_replicas and max_replicas")
        if "min_replicas" in options and options["min_replicas"] > options["max_replicas"]:
            raise ConfigError(
                f"{where}: min_replicas ({options['min_replicas']}) is more than max_replicas "
                f"({options['max_replicas']})"
            )
        kwargs = table.get("kwargs", {})
        if not isinstance(kwargs, Mapping):
            raise ConfigError(f"{where}.kwargs: expected a table of keyword arguments, got {kwargs!r}")
        if "replicas" not in options and "min_replicas" not in options:
            options["replicas"] = 1
        return cls(key, kwargs=dict(kwargs), **options)

    def deployment_options(self) -> dict[str, Any]:
        """The keyword arguments of ``serve.deployment`` for this expert."""
        options: dict[str, Any] = {
            "max_ongoing_requests": self.max_concurrency,
            "ray_actor_options": {"num_cpus": self.num_cpus, "num_gpus": self.num_gpus},
            # A replica that cannot build its expert fails the deployment in seconds, not after 20 tries.
            "max_constructor_retry_count": 2,
        }
        if self.replicas is not None:
            options["num_replicas"] = self.replicas
        else:
            options["autoscaling_config"] = {
                "min_replicas": self.min_replicas,
                "max_replicas": self.max_replicas,
                "target_ongoing_requests": max(1, self.max_concurrency // 2),
            }
        return options

    def version(self) -> str:
        """Same settings, same version: a process finding its deployment running with this version
        (in the deployment's name) uses it as is, without restarting its replicas."""
        from . import __version__

        text = json.dumps([__version__, attrs.asdict(self)], sort_keys=True, default=str)
        return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _integer(value: Any, where: str, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"{where}: expected an integer >= {minimum}, got {value!r}")
    return value


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
        raise ConfigError(f"{where}: expected a number >= 0, got {value!r}")
    return float(value)
