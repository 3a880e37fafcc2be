"""What both state-store backends share: the schema version, the retention defaults, and router
state split into JSON scalars and raw arrays (never pickle)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from .._errors import ConfigError
from .joined_decision import JoinedDecision

SCHEMA_VERSION = 4
"""Both backends number their migrations alike: version 4 is the decision log (event id, replica,
model version and time on each decision; event id and replica on each feedback row)."""
APPLICATION = "himoe"
DEFAULT_RETENTION_DAYS = 30.0
DEFAULT_MAX_TRACES = 100_000
DEFAULT_REWARD_WINDOW_S = 3600.0
"""Feedback given later than this after its decision is late: kept, and reported as late."""
DEFAULT_FLUSH_S = 0.1
"""A decision waits at most this long in memory before its batch is written (`[state] flush_s`)."""
PRUNE_AT_LEAST = 256
"""Each trace write deletes at most max(this, twice the rows written) expired traces: a backlog
(a lowered max_traces, a store idle for months) is worked off over a few writes, never in one."""
IDS_PER_STATEMENT = 500  # trace ids bound in one `IN (…)`
COUNTED_TABLES = frozenset({"traces", "trace_summaries", "feedback", "router_state", "expert_state", "decisions"})


def summary_row(trace_id: str, trace: dict[str, Any], created: float) -> tuple[Any, ...]:
    """The narrow row `himoe stats` aggregates, for one trace."""
    from .._learning.metrics import trace_summary

    return (trace_id, created, *trace_summary(trace if isinstance(trace, dict) else {}))


def chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def split_state(state: dict[str, Any], prefix: str = "") -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Nested state → (JSON scalars, {"a.b": array}); arrays are found at any depth."""
    scalars: dict[str, Any] = {}
    arrays: dict[str, np.ndarray] = {}
    for key, value in state.items():
        if isinstance(value, np.ndarray):
            arrays[prefix + key] = value
        elif isinstance(value, dict):
            sub_scalars, sub_arrays = split_state(value, prefix + key + ".")
            scalars[key] = sub_scalars
            arrays.update(sub_arrays)
        elif isinstance(value, (np.integer, np.floating)):
            scalars[key] = value.item()
        elif value is None or isinstance(value, (str, int, float, bool, list)):
            scalars[key] = value
        else:
            raise ConfigError(
                f"router state key {prefix + key!r} holds a {type(value).__name__}; "
                "state may hold numbers, strings, lists, dicts and numpy arrays"
            )
    return scalars, arrays


def join_state(state: dict[str, Any], dotted: str, array: np.ndarray) -> None:
    *parents, leaf = dotted.split(".")
    for parent in parents:
        state = state.setdefault(parent, {})
    state[leaf] = array


def array_row(array: np.ndarray) -> tuple[str, list[int], bytes]:
    """(dtype, shape, bytes) of an array, as both backends store it."""
    array = np.ascontiguousarray(array)
    return array.dtype.str, list(array.shape), array.tobytes()


def array_of(dtype: str, shape: list[int], data: bytes) -> np.ndarray:
    return np.frombuffer(bytes(data), dtype=np.dtype(dtype)).reshape(shape).copy()


def feedback_row_dict(row: tuple[Any, ...]) -> dict[str, Any]:
    """A feedback row (id, trace id, created, router, reward, task loss, detail JSON, event id,
    replica) as a dict."""
    import json

    return {
        "id": row[0],
        "trace_id": row[1],
        "created": row[2],
        "router": row[3],
        "reward": row[4],
        "task_loss": row[5],
        **json.loads(row[6]),
        "event_id": row[7],
        "replica": row[8],
    }


def joined(
    rows: list[tuple[Any, ...]], reward_window_s: float, default_reward: float | None, now: float
) -> list[JoinedDecision]:
    """Decisions with the reward of their window (or the default once it passed), up to the
    first one whose window is still open without a reward. Both backends' joins end here."""
    found = []
    for position, event_id, trace_id, router, record, replica, version, created, reward in rows:
        defaulted = False
        if reward is None:
            if now <= created + reward_window_s:
                break  # still waiting: nothing after it is handed out before it
            if default_reward is None:
                continue  # never scored: nothing to learn from
            reward, defaulted = default_reward, True
        found.append(
            JoinedDecision(
                position, event_id, trace_id, router, record, replica, int(version or 0), created, reward, defaulted
            )
        )
    return found
