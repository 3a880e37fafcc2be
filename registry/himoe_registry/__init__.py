"""himoe_registry: stable expert ids, an id-keyed registry and plugin discovery.

The id contract: ``stable_id(name)`` is the first 8 bytes (big-endian) of
``blake2b(name.encode("utf-8"), digest_size=8)``, wrapped in :class:`ExpertId`.
It never changes for a given name, so ids can be persisted.
"""

from himoe_registry.discovery import (
    LOCAL_PLUGIN_PACKAGE,
    discover_entry_points,
    load_directory,
    normalize_dist_name,
)
from himoe_registry.duplicate_name import DuplicateName
from himoe_registry.expert_id import ExpertId
from himoe_registry.id_collision import IdCollision
from himoe_registry.ids import MAX_NAME_LENGTH, NAME_PATTERN, stable_id, validate_name
from himoe_registry.invalid_name import InvalidName
from himoe_registry.plugin_source import PluginSource
from himoe_registry.registry import Registry
from himoe_registry.registry_error import RegistryError

__version__ = "0.1.0"

__all__ = [
    "LOCAL_PLUGIN_PACKAGE",
    "MAX_NAME_LENGTH",
    "NAME_PATTERN",
    "DuplicateName",
    "ExpertId",
    "IdCollision",
    "InvalidName",
    "PluginSource",
    "Registry",
    "RegistryError",
    "discover_entry_points",
    "load_directory",
    "normalize_dist_name",
    "stable_id",
    "validate_name",
]
