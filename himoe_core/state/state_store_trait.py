from __future__ import annotations

from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol, runtime_checkable

from .decision_event import DecisionEvent
from .joined_decision import JoinedDecision


@runtime_checkable
class StateStore(Protocol):
    """Where himoe keeps what it learned and what it served: router and expert state (each with
    a version), traces, the decision log and the feedback events.

    Two backends implement it: `SqliteStateStore` (one file, the embedded default) and
    `PostgresStateStore` (shared by replicas). Both pass one contract suite
    (tests/test_state_store_contract.py). Every method is blocking and thread-safe: trio code
    calls it through `trio.to_thread.run_sync` under the store's limiter
    (`himoe_core._engine.state_calls`); the trace writer's thread calls it directly.

    Errors: a store that cannot be reached, is locked too long, is read-only or damaged raises
    `StateError` naming it (a URL without its password) and what to do.
    """

    @property
    def location(self) -> str:
        """The file path, or the URL without its password: what messages and `himoe stats` show."""
        ...

    retention_days: float
    max_traces: int

    def close(self) -> None: ...

    def exclusive(self) -> AbstractContextManager[None]:
        """One write transaction spanning several calls on this thread (read a version, then write
        on it): no other process or thread learns in between. Nested calls join the outer one."""
        ...

    def appending(self) -> AbstractContextManager[None]:
        """One transaction for several appends to the log (traces and their decisions): another
        process sees all of them or none. Nested calls join the outer one."""
        ...

    # -- the log: traces, decisions, feedback ------------------------------------------------------
    def record_traces(
        self, rows: list[tuple[dict[str, Any], str, str | None, bytes]], *, created: float | None = None
    ) -> None:
        """Store traces: (trace, input kind, input task, input bytes) each."""
        ...

    def record_trace_rows(
        self,
        rows: Sequence[tuple[str, str | None, str, str | None, bytes, str] | tuple[Any, ...]],
        *,
        created: float | None = None,
    ) -> None:
        """Store encoded traces: (trace id, router, input kind, input task, input bytes, trace JSON)
        each, or the rows `state_schema.trace_row` makes (with their summary, made with the same
        `created`: when they were recorded, now by default); a trace id seen before is replaced
        (a shadow's answer came in). Prunes what the retention no longer keeps, a bounded number
        of rows per call."""
        ...

    def record_decisions(self, events: list[DecisionEvent]) -> None:
        """Append decisions to the log; one already logged (same trace and router) is kept as it was."""
        ...

    def decisions(self, trace_id: str) -> list[str]:
        """The decision records of one trace (the serving router's and the shadows')."""
        ...

    def scored_decisions(self) -> list[tuple[str, float]]:
        """(decision record, reward) of every served decision that got a reward, oldest feedback first."""
        ...

    def joined_decisions(
        self, *, reward_window_s: float, default_reward: float | None, now: float, after: int = 0, limit: int = 10_000
    ) -> list[JoinedDecision]:
        """Served decisions past position `after`, in log order, joined with their reward: the first
        reward given within `reward_window_s` of the decision, else `default_reward` once the
        window has passed. Stops at the first decision still waiting (its window open, no reward),
        so that a consumer never skips one.

        Positions are in commit order: appends are serialised (SQLite's write lock, PostgreSQL's
        log advisory lock held to commit), so a decision committed later always has a higher
        position. Times are the deciding replica's clock (`DecisionEvent.created`) and the
        feedback replica's: keep replicas' clocks in sync (NTP) for windows to mean the same."""
        ...

    def feedback_timeliness(self, reward_window_s: float) -> tuple[int, int]:
        """(rewards given within the window of their decision, rewards given after it)."""
        ...

    def trace(self, trace_id: str) -> tuple[dict[str, Any], str, str | None, bytes] | None:
        """(trace, input kind, input task, input bytes) of one trace, or None."""
        ...

    def traces(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Stored traces, oldest first (the last `limit` when given)."""
        ...

    def record_feedback(
        self,
        trace_id: str,
        router: str | None,
        reward: float | None,
        task_loss: float | None,
        detail: dict[str, Any],
        *,
        event_id: str | None = None,
        replica: str | None = None,
    ) -> None:
        """Append one feedback event (never an update of an earlier one)."""
        ...

    def feedback_for(self, trace_id: str) -> list[dict[str, Any]]:
        """The feedback rows on one trace, oldest first."""
        ...

    def feedback(self) -> list[dict[str, Any]]: ...

    def count(self, table: str) -> int:
        """Rows in one of: traces, trace_summaries, feedback, decisions, router_state, expert_state."""
        ...

    # -- router and expert state --------------------------------------------------------------------
    def save_router(self, router_id: str, state: dict[str, Any], version: int) -> None: ...

    def router_version(self, router_id: str) -> int:
        """The saved version (0: none saved)."""
        ...

    def load_router(self, router_id: str) -> tuple[dict[str, Any], int] | None: ...

    def saved_routers(self) -> list[str]: ...

    def reset_router(self, router_id: str, fresh: dict[str, Any] | None = None) -> bool:
        """Forget what a router learned; False if nothing was saved. With `fresh`, that is saved
        as the next version, so that other processes load it before their next update."""
        ...

    def save_expert(self, expert_id: str, name: str, state: dict[str, Any], version: int = 0) -> None: ...

    def expert_version(self, expert_id: str) -> int:
        """The saved version (0: none saved)."""
        ...

    def load_expert(self, expert_id: str) -> tuple[dict[str, Any], int] | None: ...

    def saved_experts(self) -> list[tuple[str, str]]:
        """(expert id, name) of every saved expert state."""
        ...

    def reset_experts(self, name: str | None = None) -> int:
        """Forget the saved state of the experts called `name` (or with that id; all with None)."""
        ...

    # -- what `himoe stats` reads (running totals and the latency index: no pass over the log) ------
    def summary_groups(self) -> list[tuple[Any, ...]]:
        """Every request recorded since the store began, pruned ones too: (answered, error kind,
        router, picks JSON, rows, cost sum, cost count, disagreement sum, disagreement count) per
        distinct combination."""
        ...

    def reward_summary(self) -> tuple[int, float | None]:
        """(rewards given since the store began, their mean)."""
        ...

    def latency_percentiles(self, percents: Iterable[float]) -> dict[float, float | None]:
        """Over the answered traces kept (the retention's window), exact."""
        ...

    def calibration_bins(self) -> list[tuple[int, int, float, float]]:
        """(bin, rewards, correct ones, sum of confidence) per calibration bin, since the store began."""
        ...

    def recent_answered_traces(self, n: int) -> list[str]: ...
