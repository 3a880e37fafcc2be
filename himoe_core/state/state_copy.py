"""`himoe state migrate --to postgresql://…`: an SQLite state file's whole state, copied into a
PostgreSQL store in one transaction (all of it or nothing), refusing a store that holds state."""

from __future__ import annotations

import os
from typing import Any

from .._errors import StateError
from .postgres_state_store import PostgresStateStore
from .sqlite_state_store import SqliteStateStore

_BATCH = 2048

# (table, columns, the SQLite query that reads them in the log's order)
_TABLES: list[tuple[str, str, str]] = [
    (
        "traces",
        "trace_id, created, router, input_kind, input_task, input_data, trace",
        "ORDER BY created, rowid",
    ),
    (
        "trace_summaries",
        "trace_id, created, router, answered, error_kind, elapsed_ms, cost_units, confidence, disagreement, picks",
        "ORDER BY created, rowid",
    ),
    ("decisions", "trace_id, router, record, event_id, replica, model_version, created", "ORDER BY rowid"),
    (
        "feedback",
        "trace_id, created, router, reward, task_loss, detail, confidence, event_id, replica",
        "ORDER BY id",
    ),
    ("router_state", "router_id, kind, version, scalars, updated", "ORDER BY router_id"),
    ("router_arrays", "router_id, name, dtype, shape, data", "ORDER BY router_id, name"),
    ("expert_state", "expert_id, name, state, updated, version", "ORDER BY expert_id"),
    (
        "stats_totals",
        "key, answered, error_kind, router, picks, requests, cost_sum, cost_rows, disagreement_sum, disagreement_rows",
        "ORDER BY key",
    ),
    ("feedback_totals", "bin, rewards, reward_sum, correct, confidence_sum", "ORDER BY bin"),
]
COPIED = [table for table, _, _ in _TABLES]


def copy_state(source: str | os.PathLike[str], url: str) -> dict[str, int]:
    """Copy the state file at `source` into the PostgreSQL store at `url` (created or migrated
    first); rows copied per table. The file is only read (migrated to the current schema first,
    as any himoe opening it would). A store already holding traces, decisions, feedback or learned
    state is refused untouched: run it again on an empty database or schema."""
    if not os.path.exists(source):
        raise StateError(f"no state file {str(source)!r} to migrate; give the file with --from or [state] path")
    files = SqliteStateStore(source, retention_days=0, max_traces=0)
    try:
        target = PostgresStateStore(url, retention_days=0, max_traces=0)
        try:
            return _copy(files, target)
        finally:
            target.close()
    finally:
        files.close()


def _copy(files: SqliteStateStore, target: PostgresStateStore) -> dict[str, int]:
    copied: dict[str, int] = {}
    # Both locks: no replica appends or learns while the copy checks the store is empty and fills it.
    with target._transaction("log") as conn, target.exclusive():
        held = {table: n for table in COPIED if (n := conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])}
        if held:
            raise StateError(
                f"state store {target.location!r} already holds state ("
                + ", ".join(f"{n} {table}" for table, n in held.items())
                + "); nothing was copied — migrate into an empty database or schema (the URL's "
                "search_path chooses one), or reset that one first"
            )
        for table, columns, order in _TABLES:
            copied[table] = _copy_table(files, conn, table, columns, order, target.location)
        conn.execute("DELETE FROM meta WHERE key = 'trace_count'")
        conn.execute("INSERT INTO meta VALUES ('trace_count', %s)", (str(copied["trace_summaries"]),))
    return copied


def _copy_table(files: SqliteStateStore, conn: Any, table: str, columns: str, order: str, where: str) -> int:
    import psycopg

    count = 0
    with files._lock:
        cursor = files._conn.execute(f"SELECT {columns} FROM {table} {order}")
        try:
            with conn.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                while rows := cursor.fetchmany(_BATCH):
                    for row in rows:
                        copy.write_row(row)
                        count += 1
        except (psycopg.DataError, ValueError, UnicodeEncodeError) as exc:
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise StateError(
                f"a row of table {table} cannot be stored in {where!r} ({reason}); nothing was copied — "
                "fix or delete that row in the file (sqlite3), then migrate again"
            ) from None
    return count
