"""Learned state: router parameters, expert state, traces, the decision log and feedback events,
in an SQLite file (the embedded default) or a PostgreSQL database that replicas share.

`open_state_store(target)` opens either (a `postgresql://` URL or a file path); both implement
the `StateStore` protocol. Names are imported on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy_exports import public_namespace

if TYPE_CHECKING:  # the exports, read at run time by public_namespace: one list, three uses
    from .decision_event import DecisionEvent as DecisionEvent
    from .joined_decision import JoinedDecision as JoinedDecision
    from .postgres_state_store import PostgresStateStore as PostgresStateStore
    from .sqlite_state_store import SqliteStateStore as SqliteStateStore
    from .state_location import default_state_path as default_state_path
    from .state_location import open_state_store as open_state_store
    from .state_location import redact_url as redact_url
    from .state_schema import SCHEMA_VERSION as SCHEMA_VERSION
    from .state_store_trait import StateStore as StateStore

__getattr__, __dir__, __all__ = public_namespace(__name__)
