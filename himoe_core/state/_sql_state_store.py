from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from typing import Any

from .joined_decision import JoinedDecision
from .state_schema import (
    COUNTED_TABLES,
    FEEDBACK_TOTALS_UPSERT,
    array_of,
    array_row,
    calibration_bin,
    feedback_row_dict,
    join_state,
    joined,
    split_state,
    summary_row,
    trace_row,
)

TraceRow = tuple[str, str | None, str, str | None, bytes, str, tuple[Any, ...]]
"""What `state_schema.trace_row` makes: a trace's columns, its JSON text and its summary row."""


class SqlStateStore:
    """What the SQLite and PostgreSQL stores share: every statement both dialects read alike,
    written once with `?` placeholders (the PostgreSQL store turns them into `%s`).

    A backend supplies its connection handling (`_read`, `_write`, `exclusive`, `_session`),
    the column that orders the log (`_ORDER`: SQLite's rowid, PostgreSQL's seq), the trace
    writer (`_record`, with its retention) and the statements whose dialects differ.
    """

    _ORDER: str

    # -- what a backend supplies ---------------------------------------------------------------------
    def _read(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    def _write(self, statements: Iterable[tuple[str, tuple[Any, ...]]]) -> None:
        raise NotImplementedError

    def _session(self) -> AbstractContextManager[Any]:
        """One connection (inside a transaction: its snapshot) for several reads."""
        raise NotImplementedError

    def exclusive(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    def _writing(self) -> AbstractContextManager[Any]:
        """The transaction `_write` runs in, held across several calls of this thread."""
        raise NotImplementedError

    def _record(self, rows: list[TraceRow], now: float) -> None:
        """Write rows of (trace id, router, input kind, input task, input bytes, trace JSON, its
        summary_row), recorded at `now`."""
        raise NotImplementedError

    # -- traces, decisions, feedback -----------------------------------------------------------------
    def record_traces(
        self, rows: list[tuple[dict[str, Any], str, str | None, bytes]], *, created: float | None = None
    ) -> None:
        """Store traces: (trace, input kind, input task, input bytes) each (`created`: when they
        were recorded, now by default)."""
        now = time.time() if created is None else created
        self.record_trace_rows(
            [trace_row(trace, kind, task, data, now) for trace, kind, task, data in rows], created=now
        )

    def record_trace_rows(
        self,
        rows: Sequence[tuple[str, str | None, str, str | None, bytes, str] | TraceRow],
        *,
        created: float | None = None,
    ) -> None:
        """Store already encoded traces: (trace id, router, input kind, input task, input bytes,
        trace JSON) each, or the rows `state_schema.trace_row` makes (their summary too, made
        with the same `created`); a trace id seen before is replaced (a shadow's answer came in)."""
        now = time.time() if created is None else created
        self._record(
            [row if len(row) == 7 else (*row, summary_row(row[0], json.loads(row[5]), now)) for row in rows], now
        )

    def decisions(self, trace_id: str) -> list[str]:
        """The decision records of one trace (the serving router's and the shadows')."""
        return [row[0] for row in self._read("SELECT record FROM decisions WHERE trace_id = ?", (trace_id,))]

    def scored_decisions(self) -> list[tuple[str, float]]:
        """(decision record, reward) of every decision that got a reward, oldest feedback first."""
        return [
            (record, reward)
            for record, reward in self._read(
                "SELECT d.record, f.reward FROM feedback f JOIN traces t ON t.trace_id = f.trace_id "
                "JOIN decisions d ON d.trace_id = f.trace_id AND d.router = t.router "
                "WHERE f.reward IS NOT NULL ORDER BY f.id"
            )
        ]

    def joined_decisions(
        self, *, reward_window_s: float, default_reward: float | None, now: float, after: int = 0, limit: int = 10_000
    ) -> list[JoinedDecision]:
        order = self._ORDER
        rows = self._read(
            f"SELECT d.{order}, d.event_id, d.trace_id, d.router, d.record, d.replica, d.model_version, d.created, "
            "(SELECT f.reward FROM feedback f WHERE f.trace_id = d.trace_id AND f.reward IS NOT NULL "
            "AND f.created <= d.created + ? ORDER BY f.id LIMIT 1) "
            "FROM decisions d JOIN traces t ON t.trace_id = d.trace_id AND t.router = d.router "
            f"WHERE d.{order} > ? ORDER BY d.{order} LIMIT ?",
            (reward_window_s, after, limit),
        )
        return joined(rows, reward_window_s, default_reward, now)

    def feedback_timeliness(self, reward_window_s: float) -> tuple[int, int]:
        on_time, late = self._read(
            "SELECT COUNT(*) FILTER (WHERE f.created <= d.created + ?), "
            "COUNT(*) FILTER (WHERE f.created > d.created + ?) "
            "FROM feedback f JOIN decisions d ON d.trace_id = f.trace_id AND d.router = f.router "
            "WHERE f.reward IS NOT NULL",
            (reward_window_s, reward_window_s),
        )[0]
        return int(on_time), int(late)

    def trace(self, trace_id: str) -> tuple[dict[str, Any], str, str | None, bytes] | None:
        rows = self._read(
            "SELECT trace, input_kind, input_task, input_data FROM traces WHERE trace_id = ?", (trace_id,)
        )
        if not rows:
            return None
        trace, kind, task, data = rows[0]
        return json.loads(trace), kind, task, bytes(data)

    def traces(self, limit: int | None = None) -> list[dict[str, Any]]:
        """Stored traces, oldest first (the last `limit` when given)."""
        order = self._ORDER
        if limit is None:
            rows = self._read(f"SELECT trace FROM traces ORDER BY created, {order}")
        else:
            rows = self._read(
                f"SELECT trace FROM (SELECT trace, created, {order} AS position FROM traces "
                f"ORDER BY created DESC, {order} DESC LIMIT ?) newest ORDER BY created, position",
                (limit,),
            )
        return [json.loads(row[0]) for row in rows]

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
        with self._writing():
            # Read once: the row and the totals must agree on it, and a trace written since
            # must not move a reward into another calibration bin.
            found = self._read("SELECT confidence FROM trace_summaries WHERE trace_id = ?", (trace_id,))
            confidence = found[0][0] if found else None
            statements: list[tuple[str, tuple[Any, ...]]] = [
                (
                    "INSERT INTO feedback (trace_id, created, router, reward, task_loss, detail, confidence, "
                    "event_id, replica) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        trace_id,
                        time.time(),
                        router,
                        reward,
                        task_loss,
                        json.dumps(detail),
                        confidence,
                        event_id,
                        replica,
                    ),
                )
            ]
            if reward is not None:
                statements.append(
                    (
                        FEEDBACK_TOTALS_UPSERT,
                        (calibration_bin(confidence), reward, 1.0 if reward >= 0.5 else 0.0, confidence or 0.0),
                    )
                )
            self._write(statements)

    def feedback_for(self, trace_id: str) -> list[dict[str, Any]]:
        """The feedback rows on one trace, oldest first."""
        return self._feedback_rows("WHERE trace_id = ?", (trace_id,))

    def feedback(self) -> list[dict[str, Any]]:
        return self._feedback_rows()

    def _feedback_rows(self, where: str = "", params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
        rows = self._read(
            f"SELECT id, trace_id, created, router, reward, task_loss, detail, event_id, replica FROM feedback {where} "
            "ORDER BY id",
            params,
        )
        return [feedback_row_dict(r) for r in rows]

    def count(self, table: str) -> int:
        if table not in COUNTED_TABLES:
            raise ValueError(f"unknown table {table!r}")
        return int(self._read(f"SELECT COUNT(*) FROM {table}")[0][0])

    # -- router and expert state ---------------------------------------------------------------------
    def save_router(self, router_id: str, state: dict[str, Any], version: int) -> None:
        """Replace a router's state: scalars as JSON, arrays as bytes with dtype and shape."""
        scalars, arrays = split_state(state)
        statements: list[tuple[str, tuple[Any, ...]]] = [
            (
                "INSERT INTO router_state VALUES (?, ?, ?, ?, ?) ON CONFLICT (router_id) DO UPDATE SET "
                "kind = excluded.kind, version = excluded.version, scalars = excluded.scalars, "
                "updated = excluded.updated",
                (router_id, str(state.get("kind", "")), version, json.dumps(scalars), time.time()),
            ),
            ("DELETE FROM router_arrays WHERE router_id = ?", (router_id,)),
        ]
        for name, array in arrays.items():
            dtype, shape, data = array_row(array)
            statements.append(
                ("INSERT INTO router_arrays VALUES (?, ?, ?, ?, ?)", (router_id, name, dtype, json.dumps(shape), data))
            )
        self._write(statements)

    def router_version(self, router_id: str) -> int:
        rows = self._read("SELECT version FROM router_state WHERE router_id = ?", (router_id,))
        return int(rows[0][0]) if rows else 0

    def load_router(self, router_id: str) -> tuple[dict[str, Any], int] | None:
        with self._session():  # both reads on one connection: inside a transaction, its snapshot
            rows = self._read("SELECT scalars, version FROM router_state WHERE router_id = ?", (router_id,))
            if not rows:
                return None
            state = json.loads(rows[0][0])
            for name, dtype, shape, data in self._read(
                "SELECT name, dtype, shape, data FROM router_arrays WHERE router_id = ?", (router_id,)
            ):
                join_state(state, name, array_of(dtype, json.loads(shape), data))
        return state, int(rows[0][1])

    def saved_routers(self) -> list[str]:
        return [row[0] for row in self._read("SELECT router_id FROM router_state ORDER BY router_id")]

    def saved_experts(self) -> list[tuple[str, str]]:
        """(expert id, name) of every saved expert state."""
        return [
            (expert_id, name)
            for expert_id, name in self._read("SELECT expert_id, name FROM expert_state ORDER BY name, expert_id")
        ]

    def reset_router(self, router_id: str, fresh: dict[str, Any] | None = None) -> bool:
        """Forget what a router learned; False if nothing was saved. With `fresh` (its state
        before it learned), that is saved as a new version instead: other processes still
        holding the old state load it before their next update rather than saving over it."""
        with self.exclusive():
            version = self.router_version(router_id)
            existed = bool(self._read("SELECT 1 FROM router_state WHERE router_id = ?", (router_id,)))
            if fresh is not None and existed:
                self.save_router(router_id, fresh, version + 1)
            else:
                self._write(
                    [
                        ("DELETE FROM router_arrays WHERE router_id = ?", (router_id,)),
                        ("DELETE FROM router_state WHERE router_id = ?", (router_id,)),
                    ]
                )
        return existed

    def save_expert(self, expert_id: str, name: str, state: dict[str, Any], version: int = 0) -> None:
        self._write(
            [
                (
                    "INSERT INTO expert_state (expert_id, name, state, updated, version) VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT (expert_id) DO UPDATE SET name = excluded.name, state = excluded.state, "
                    "updated = excluded.updated, version = excluded.version",
                    (expert_id, name, json.dumps(state), time.time(), version),
                )
            ]
        )

    def expert_version(self, expert_id: str) -> int:
        rows = self._read("SELECT version FROM expert_state WHERE expert_id = ?", (expert_id,))
        return int(rows[0][0]) if rows else 0

    def load_expert(self, expert_id: str) -> tuple[dict[str, Any], int] | None:
        rows = self._read("SELECT state, version FROM expert_state WHERE expert_id = ?", (expert_id,))
        return (json.loads(rows[0][0]), int(rows[0][1])) if rows else None

    # -- what `himoe stats` reads: running totals, never a pass over the log ----------------------------
    def summary_groups(self) -> list[tuple[Any, ...]]:
        """Every request ever recorded, counted: (answered, error kind, router, picks JSON, rows,
        cost sum, cost count, disagreement sum, disagreement count) per distinct combination."""
        return self._read(
            "SELECT answered, error_kind, router, picks, requests, cost_sum, cost_rows, disagreement_sum, "
            "disagreement_rows FROM stats_totals WHERE requests <> 0 ORDER BY key"
        )

    def reward_summary(self) -> tuple[int, float | None]:
        """(feedback rows with a reward ever recorded, their mean reward)."""
        count, total = self._read("SELECT COALESCE(SUM(rewards), 0), SUM(reward_sum) FROM feedback_totals")[0]
        count = int(count)  # PostgreSQL sums a BIGINT as a NUMERIC
        return count, (total / count if count else None)

    def calibration_bins(self) -> list[tuple[int, int, float, float]]:
        """(bin, rows, sum of correctness, sum of confidence) of every reward given to an answer
        with a confidence; bin i of ECE_BINS holds (i/ECE_BINS, (i+1)/ECE_BINS] (state_schema.calibration_bin)."""
        return [
            (int(b), int(n), float(correct), float(confidence))
            for b, n, correct, confidence in self._read(
                "SELECT bin, rewards, correct, confidence_sum FROM feedback_totals WHERE bin >= 0 AND rewards > 0 "
                "ORDER BY bin"
            )
        ]
