from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import attrs

from himoe_core import ConfigError

from .ray_placement import RayPlacement

_KEYS = ("address", "experts")
_HOST_PORT = re.compile(r"[A-Za-z0-9.\-\[\]:]+:[0-9]{1,5}")


@attrs.frozen
class RaySettings:
    """The checked ``[ray]`` table: where the cluster is, and which experts run on it.

    `address` is what ``ray.init`` takes: ``"local"`` (start a Ray for this process, the
    default), ``"auto"`` (the cluster already running on this machine), ``"HOST:PORT"`` (a head
    node's GCS address) or ``"ray://HOST:PORT"`` (Ray Client).
    """

    address: str = "local"
    experts: tuple[RayPlacement, ...] = ()

    @classmethod
    def parse(cls, table: Any) -> RaySettings:
        if table is None:
            return cls()
        if not isinstance(table, Mapping):
            raise ConfigError(f"ray: expected a table, got {table!r}")
        unknown = sorted(set(table) - set(_KEYS))
        if unknown:
            raise ConfigError(f"ray.{unknown[0]}: unknown key; known keys here: {', '.join(_KEYS)}")
        address = table.get("address", "local")
        if not isinstance(address, str) or not (
            address in ("local", "auto") or address.startswith("ray://") or _HOST_PORT.fullmatch(address)
        ):
            raise ConfigError(
                f'ray.address: expected "local", "auto", "HOST:PORT" or "ray://HOST:PORT", got {address!r}'
            )
        experts = table.get("experts", {})
        if not isinstance(experts, Mapping):
            raise ConfigError(f"ray.experts: expected a table of [ray.experts.<name>] tables, got {experts!r}")
        return cls(address, tuple(RayPlacement.parse(key, value) for key, value in experts.items()))
