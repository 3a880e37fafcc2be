"""What both state-store backends share: the schema version, the retention defaults, and router
state split into JSON scalars and raw arrays (never pickle)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

from .._errors import ConfigError
from .joined_decision import JoinedDecision

SCHEMA_VERSION = 5
"""Both backends number their migrations alike: version 4 is the decision log (event id, replica,
model version and time on each decision; event id and replica on each feedback row); version 5
the running totals `himoe stats` reads (TOTALS_SCHEMA)."""
APPLICATION = "himoe"
DEFAULT_RETENTION_DAYS = 30.0
DEFAULT_MAX_TRACES = 100_000
DEFAULT_REWARD_WINDOW_S = 3600.0
"""Feedback given later than this after its decision is late: kept, and reported as late."""
DEFAULT_FLUSH_S = 0.1
"""A decision waits at most this long in memory before its batch is written (`[state] flush_s`)."""
DEFAULT_FLUSH_EVERY = 256
"""A batch is written once this many requests wait (`[state] flush_every`), if `flush_s` has not
passed first. Each batch wakes the writer thread, which beside a busy event loop costs about a
millisecond of CPU (the two take turns with the GIL): batches of 64 cost ~30 µs a request more
than batches of 256 (no-op experts, SQLite, one run side by side). What it bounds stays small:
a few hundred requests' atoms and decisions."""
PRUNE_AT_LEAST = 256
"""Each trace write deletes at most max(this, twice the rows written) expired traces: a backlog
(a lowered max_traces, a store idle for months) is worked off over a few writes, never in one."""
IDS_PER_STATEMENT = 500  # trace ids bound in one `IN (…)`
TOTALS_PER_STATEMENT = 256  # 10 parameters a row, well under SQLite's 32,766
COUNTED_TABLES = frozenset({"traces", "trace_summaries", "feedback", "router_state", "expert_state", "decisions"})


TOTALS_SCHEMA = """
CREATE TABLE stats_totals (
    key TEXT PRIMARY KEY,
    answered INTEGER NOT NULL,
    error_kind TEXT,
    router TEXT,
    picks TEXT,
    requests BIGINT NOT NULL,
    cost_sum DOUBLE PRECISION NOT NULL,
    cost_rows BIGINT NOT NULL,
    disagreement_sum DOUBLE PRECISION NOT NULL,
    disagreement_rows BIGINT NOT NULL
);
CREATE TABLE feedback_totals (
    bin INTEGER PRIMARY KEY,
    rewards BIGINT NOT NULL,
    reward_sum DOUBLE PRECISION NOT NULL,
    correct DOUBLE PRECISION NOT NULL,
    confidence_sum DOUBLE PRECISION NOT NULL
)
"""
"""Version 5 (both dialects read it alike): what `himoe stats` counts, kept as running totals so
that it costs the same on a million requests as on ten. stats_totals: requests, cost and
disagreement per (answered, error kind, router, picks), `key` their JSON; the trace writer adds to
it in the transaction that writes the traces (a replaced trace's old summary taken off first).
feedback_totals: rewards per calibration bin of the answer's confidence (-1: no confidence), added
to with each feedback row. Lifetime totals: pruning the traces they came from leaves them."""


def summary_row(trace_id: str, trace: dict[str, Any], created: float) -> tuple[Any, ...]:
    """The narrow row `himoe stats` aggregates, for one trace."""
    from .._learning.metrics import trace_summary

    return (trace_id, created, *trace_summary(trace if isinstance(trace, dict) else {}))


def trace_row(
    trace: dict[str, Any], kind: str, task: str | None, data: bytes, created: float
) -> tuple[str, str | None, str, str | None, bytes, str, tuple[Any, ...]]:
    """A trace's row for `StateStore.record_trace_rows`, with its JSON text and its summary_row
    both made now, from the dict, which the row does not keep.

    The state writer makes a batch's rows one trace at a time, before its transaction: a batch
    holding hundreds of trace dicts at once held young containers that the garbage collector
    scanned again at every collection their own allocations set off (~12 µs a request of the
    writer's CPU beside the event loop, most of what rendering the trace took there)."""
    from .. import _json_text

    trace_id = trace["trace_id"]
    return (
        trace_id,
        trace.get("router"),
        kind,
        task,
        data,
        _json_text.dumps(trace),
        summary_row(trace_id, trace, created),
    )


def calibration_bin(confidence: float | None) -> int:
    """The calibration bin of an answer's confidence, as numpy.digitize(..., right=True) puts it
    among the inner edges of ECE_BINS equal bins (-1: no confidence)."""
    from bisect import bisect_left

    from .._learning.metrics import ECE_BINS

    if confidence is None:
        return -1
    return bisect_left(np.linspace(0.0, 1.0, ECE_BINS + 1)[1:-1].tolist(), confidence)


def stats_totals_upserts(
    removed: Iterable[tuple[Any, ...]], added: Iterable[tuple[Any, ...]]
) -> list[tuple[str, list[Any]]]:
    """The statements (with their parameters) that add summary rows to stats_totals and take
    others off: a statement per TOTALS_PER_STATEMENT keys, each key once (none if they cancel)."""
    deltas: dict[str, list[Any]] = {}
    for sign, rows in ((-1, removed), (1, added)):
        for _, _, router, answered, error_kind, _, cost, _, disagreement, picks in rows:
            key = json.dumps([int(answered), error_kind, router, picks])
            delta = deltas.setdefault(key, [key, int(answered), error_kind, router, picks, 0, 0.0, 0, 0.0, 0])
            delta[5] += sign
            if cost is not None:
                delta[6] += sign * cost
                delta[7] += sign
            if disagreement is not None:
                delta[8] += sign * disagreement
                delta[9] += sign
    changed = [delta for delta in deltas.values() if any(delta[5:])]
    return [
        (
            "INSERT INTO stats_totals (key, answered, error_kind, router, picks, requests, cost_sum, cost_rows, "
            "disagreement_sum, disagreement_rows) VALUES "
            + ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(chunk))
            + " ON CONFLICT (key) DO UPDATE SET requests = stats_totals.requests + excluded.requests, "
            "cost_sum = stats_totals.cost_sum + excluded.cost_sum, "
            "cost_rows = stats_totals.cost_rows + excluded.cost_rows, "
            "disagreement_sum = stats_totals.disagreement_sum + excluded.disagreement_sum, "
            "disagreement_rows = stats_totals.disagreement_rows + excluded.disagreement_rows",
            [value for delta in chunk for value in delta],
        )
        for chunk in chunks(changed, TOTALS_PER_STATEMENT)
    ]


FEEDBACK_TOTALS_UPSERT = (
    "INSERT INTO feedback_totals (bin, rewards, reward_sum, correct, confidence_sum) VALUES (?, 1, ?, ?, ?) "
    "ON CONFLICT (bin) DO UPDATE SET rewards = feedback_totals.rewards + 1, "
    "reward_sum = feedback_totals.reward_sum + excluded.reward_sum, correct = feedback_totals.correct + excluded.correct, "
    "confidence_sum = feedback_totals.confidence_sum + excluded.confidence_sum"
)
"""Adds one reward (parameters: bin, reward, 1.0 if reward >= 0.5 else 0.0, confidence or 0.0)."""


def seed_totals(read: Callable[[str, tuple[Any, ...]], list[tuple[Any, ...]]]) -> list[tuple[str, list[Any]]]:
    """The statements that fill the empty totals from the rows a version-4 store kept (its
    lifetime before them was pruned: it is not known). `read` runs a query of `?` placeholders."""
    statements = []
    groups = read(
        "SELECT router, answered, error_kind, picks, COUNT(*), SUM(cost_units), COUNT(cost_units), "
        "SUM(disagreement), COUNT(disagreement) FROM trace_summaries GROUP BY answered, error_kind, router, picks",
        (),
    )
    for router, answered, error_kind, picks, rows, cost, costs, disagreement, disagreements in groups:
        statements.append(
            (
                "INSERT INTO stats_totals VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    json.dumps([int(answered), error_kind, router, picks]),
                    int(answered),
                    error_kind,
                    router,
                    picks,
                    rows,
                    cost or 0.0,
                    costs,
                    disagreement or 0.0,
                    disagreements,
                ],
            )
        )
    bins: dict[int, list[Any]] = {}
    for reward, confidence in read("SELECT reward, confidence FROM feedback WHERE reward IS NOT NULL ORDER BY id", ()):
        found = bins.setdefault(calibration_bin(confidence), [0, 0.0, 0.0, 0.0])
        found[0] += 1
        found[1] += reward
        found[2] += 1.0 if reward >= 0.5 else 0.0
        found[3] += confidence or 0.0
    statements += [
        ("INSERT INTO feedback_totals VALUES (?, ?, ?, ?, ?)", [b, *sums]) for b, sums in sorted(bins.items())
    ]
    return statements


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
