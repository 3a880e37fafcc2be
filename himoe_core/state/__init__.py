"""Learned state in SQLite: router parameters, expert state, traces and feedback."""

from .state_store import SCHEMA_VERSION, StateStore, default_state_path

__all__ = ["SCHEMA_VERSION", "StateStore", "default_state_path"]
