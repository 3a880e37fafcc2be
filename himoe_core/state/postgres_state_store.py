from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from .._errors import StateError
from ._sql_state_store import SqlStateStore, TraceRow
from .decision_event import DecisionEvent
from .state_location import redact_url
from .state_schema import (
    APPLICATION,
    DEFAULT_MAX_TRACES,
    DEFAULT_RETENTION_DAYS,
    PRUNE_AT_LEAST,
    SCHEMA_VERSION,
    TOTALS_SCHEMA,
    seed_totals,
    stats_totals_upserts,
)

log = logging.getLogger("himoe.state")

CONNECT_TIMEOUT_S = 10
LOCK_TIMEOUT_S = 30.0
POOL_SIZE = 8
SNAPSHOT_CHANNEL = "himoe_snapshot"
"""The NOTIFY channel of published snapshots; the payload is the schema and the version."""

_TABLES = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE traces (
    seq BIGSERIAL UNIQUE,
    trace_id TEXT PRIMARY KEY,
    created DOUBLE PRECISION NOT NULL,
    router TEXT,
    input_kind TEXT NOT NULL,
    input_task TEXT,
    input_data BYTEA NOT NULL,
    trace TEXT NOT NULL
);
CREATE TABLE trace_summaries (
    seq BIGSERIAL UNIQUE,
    trace_id TEXT PRIMARY KEY,
    created DOUBLE PRECISION NOT NULL,
    router TEXT,
    answered INTEGER NOT NULL,
    error_kind TEXT,
    elapsed_ms DOUBLE PRECISION,
    cost_units DOUBLE PRECISION,
    confidence DOUBLE PRECISION,
    disagreement DOUBLE PRECISION,
    picks TEXT
);
CREATE INDEX trace_summaries_created ON trace_summaries (created, seq);
CREATE INDEX trace_summaries_latency ON trace_summaries (elapsed_ms) WHERE answered = 1 AND elapsed_ms IS NOT NULL;
CREATE TABLE feedback (
    id BIGSERIAL PRIMARY KEY,
    trace_id TEXT NOT NULL,
    created DOUBLE PRECISION NOT NULL,
    router TEXT,
    reward DOUBLE PRECISION,
    task_loss DOUBLE PRECISION,
    detail TEXT NOT NULL,
    confidence DOUBLE PRECISION,
    event_id TEXT,
    replica TEXT
);
CREATE INDEX feedback_trace ON feedback (trace_id);
CREATE TABLE decisions (
    seq BIGSERIAL UNIQUE,
    trace_id TEXT NOT NULL,
    router TEXT NOT NULL,
    record TEXT NOT NULL,
    event_id TEXT,
    replica TEXT,
    model_version BIGINT NOT NULL DEFAULT 0,
    created DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (trace_id, router)
);
CREATE TABLE router_state (
    router_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    version BIGINT NOT NULL,
    scalars TEXT NOT NULL,
    updated DOUBLE PRECISION NOT NULL
);
CREATE TABLE router_arrays (
    router_id TEXT NOT NULL,
    name TEXT NOT NULL,
    dtype TEXT NOT NULL,
    shape TEXT NOT NULL,
    data BYTEA NOT NULL,
    PRIMARY KEY (router_id, name)
);
CREATE TABLE expert_state (
    expert_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    updated DOUBLE PRECISION NOT NULL,
    version BIGINT NOT NULL DEFAULT 0
)
"""
"""The schema at version 4, the first a PostgreSQL store has (the SQLite file's versions 1-3
came before the decision log)."""


def _total_stored_rows(conn: Any) -> None:
    """Version 5: the running totals, from the rows the store kept."""
    for sql, params in seed_totals(lambda query, args: conn.execute(_dialect(query), args).fetchall()):
        conn.execute(_dialect(sql), params)


_MIGRATIONS: dict[int, tuple[str, Callable[[Any], None] | None]] = {5: (TOTALS_SCHEMA, _total_stored_rows)}
"""Version n - 1 → n, for n > 4: SQL run in the migrating transaction, then an optional Python step."""


class PostgresStateStore(SqlStateStore):
    """The state store in a PostgreSQL database, shared by every replica that points at it
    (`[state] url = "postgresql://…"` or HIMOE_STATE_URL): the same tables and guarantees as
    the SQLite file, on psycopg 3 with a connection pool.

    Learning (`exclusive`) holds a transaction-scoped advisory lock, so updates of router and
    expert state are serialised across replicas as SQLite's write lock serialises processes;
    appending traces and decisions takes another lock (for the retention count), so logging
    never waits for learning. The tables live in the connection's current schema (the first of
    its search_path: `?options=-csearch_path%3Dname` in the URL chooses another); a schema
    holding other tables is refused untouched, as is one from a newer himoe.
    """

    _ORDER = "seq"

    def __init__(
        self,
        url: str,
        *,
        retention_days: float = DEFAULT_RETENTION_DAYS,
        max_traces: int = DEFAULT_MAX_TRACES,
        pool_size: int = POOL_SIZE,
    ) -> None:
        self.url = url
        self.location = redact_url(url)
        self.retention_days = retention_days  # 0: no age limit
        self.max_traces = max_traces  # 0: no count limit
        self._local = threading.local()
        try:
            import psycopg
            from psycopg_pool import ConnectionPool
        except ImportError:
            raise StateError(
                f"state store {self.location!r} is a PostgreSQL URL, and PostgreSQL support is not "
                "installed; install it with `pip install 'himoe[postgres]'`"
            ) from None
        self._psycopg = psycopg
        # A first connection of our own: its error says why (a pool only times out), and it migrates.
        try:
            with psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S) as conn:
                self._migrate(conn)
        except psycopg.Error as exc:
            raise self._state_error(exc) from None
        self._pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S},
            check=ConnectionPool.check_connection,  # a server restarted since: a fresh connection
            name="himoe-state",
            open=True,
        )

    # -- connecting, errors, transactions ------------------------------------------------------------
    def _state_error(self, exc: BaseException) -> StateError:
        """What a failed call means for the user, and what to do; never the password."""
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        password = _password(self.url)
        if password:
            text = text.replace(password, "***")
        where = f"state store {self.location!r}"
        errors = self._psycopg.errors
        if isinstance(exc, (errors.LockNotAvailable, errors.QueryCanceled)):
            return StateError(
                f"{where} stayed locked by another process for {LOCK_TIMEOUT_S:g} s; retry when it is done",
                transient=True,
            )
        if isinstance(exc, errors.InsufficientPrivilege):
            return StateError(
                f"{where}: permission denied ({text}); grant the user CREATE and USAGE on its schema, "
                "or use another database"
            )
        if isinstance(exc, self._psycopg.OperationalError) or type(exc).__name__ == "PoolTimeout":
            return StateError(
                f"cannot reach {where} ({text}); check that PostgreSQL runs there and accepts this user, "
                "or fix [state] url / HIMOE_STATE_URL",
                transient=True,
            )
        return StateError(f"{where} failed ({text}); check the server's log")

    @contextmanager
    def _translated(self) -> Iterator[None]:
        psycopg = self._psycopg
        try:
            yield
        except (psycopg.DataError, psycopg.IntegrityError, psycopg.ProgrammingError):
            raise  # a bad value (text PostgreSQL refuses, a NUL): the row's fault, not the store's
        except psycopg.Error as exc:
            raise self._state_error(exc) from exc
        except Exception as exc:
            if type(exc).__name__ in {"PoolTimeout", "PoolClosed"}:
                raise self._state_error(exc) from exc
            raise

    @contextmanager
    def _connection(self) -> Iterator[Any]:
        """This thread's transaction's connection, else one from the pool (autocommit)."""
        held = getattr(self._local, "conn", None)
        if held is not None:
            yield held
            return
        with self._translated(), self._pool.connection(timeout=CONNECT_TIMEOUT_S) as conn:
            yield conn

    @contextmanager
    def _transaction(self, lock: str) -> Iterator[Any]:
        """A transaction holding the advisory lock `lock` of this schema; nested: joins the outer."""
        held = getattr(self._local, "conn", None)
        if held is not None:
            if lock not in self._local.locks:
                with self._translated():
                    held.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema() || %s))", (":" + lock,))
                self._local.locks.add(lock)
            yield held
            return
        with self._translated(), self._pool.connection(timeout=CONNECT_TIMEOUT_S) as conn, conn.transaction():
            conn.execute(f"SET LOCAL lock_timeout = '{int(LOCK_TIMEOUT_S * 1000)}ms'")
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema() || %s))", (":" + lock,))
            self._local.conn, self._local.locks = conn, {lock}
            try:
                yield conn
            finally:
                self._local.conn = None

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """One learning transaction spanning several calls: no other replica learns in between."""
        with self._transaction("learn"):
            yield

    @contextmanager
    def appending(self) -> Iterator[None]:
        """Traces and decisions in one transaction, under the log's lock (never learning's)."""
        with self._transaction("log"):
            yield

    def _read(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[tuple[Any, ...]]:
        with self._connection() as conn:
            rows: list[tuple[Any, ...]] = conn.execute(_dialect(sql), params).fetchall()
            return rows

    def _write(self, statements: Iterable[tuple[str, tuple[Any, ...]]]) -> None:
        with self._transaction("write") as conn:
            for sql, params in statements:
                conn.execute(_dialect(sql), params)

    def _session(self) -> AbstractContextManager[Any]:
        return self._connection()

    def _writing(self) -> AbstractContextManager[Any]:
        return self._transaction("write")

    def close(self) -> None:
        self._pool.close()

    # -- migrating -----------------------------------------------------------------------------------
    def _migrate(self, conn: Any) -> None:
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':migrate'))")
            schema = conn.execute("SELECT current_schema()").fetchone()[0]
            if schema is None:
                raise StateError(
                    f"state store {self.location!r}: no schema to create the tables in (none of the "
                    "search_path exists); create the schema, or fix the URL's search_path"
                )
            tables = {
                row[0]
                for row in conn.execute(
                    "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
                )
            }
            where = f"state store {self.location!r} (schema {schema!r})"
            if not tables:
                for statement in _TABLES.split(";"):
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO meta VALUES ('application', %s), ('schema_version', '4')",
                    (APPLICATION,),
                )
                version = 4
            else:
                if "meta" not in tables:
                    raise StateError(
                        f"{where} holds tables of another application ({', '.join(sorted(tables)[:8])}); "
                        "they were left untouched — point the URL's search_path at another schema, or use "
                        "another database"
                    )
                meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
                if meta.get("application") != APPLICATION:
                    raise StateError(f"{where} does not belong to himoe; it was left untouched")
                raw = str(meta.get("schema_version", ""))
                if not raw.isdigit() or int(raw) < 4:
                    raise StateError(f"{where} has no valid schema version ({raw!r}); it was left untouched")
                version = int(raw)
                if version > SCHEMA_VERSION:
                    raise StateError(
                        f"{where} has schema version {version}, newer than this himoe understands "
                        f"({SCHEMA_VERSION}); upgrade himoe — it was left untouched"
                    )
            for step in range(version + 1, SCHEMA_VERSION + 1):
                script, python_step = _MIGRATIONS[step]
                for statement in script.split(";"):
                    if statement.strip():
                        conn.execute(statement)
                if python_step is not None:
                    python_step(conn)
            conn.execute("UPDATE meta SET value = %s WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))

    # -- traces, decisions, feedback ------------------------------------------------------------------
    def _record(self, rows: list[TraceRow], now: float) -> None:
        # The last row of a trace id wins, as it does in SQLite (one statement may not update a row twice).
        latest = list({row[0]: row for row in rows}.values())
        summaries = [row[6] for row in latest]
        with self._transaction("log") as conn:
            self._trace_count(conn)
            ids = [row[0] for row in latest]
            replaced = conn.execute(
                "SELECT trace_id, created, router, answered, error_kind, elapsed_ms, cost_units, confidence, "
                "disagreement, picks FROM trace_summaries WHERE trace_id = ANY(%s)",
                (ids,),
            ).fetchall()
            _insert_rows(
                conn,
                "INSERT INTO traces (trace_id, created, router, input_kind, input_task, input_data, trace) {} "
                "ON CONFLICT (trace_id) DO UPDATE SET seq = DEFAULT, created = EXCLUDED.created, "
                "router = EXCLUDED.router, input_kind = EXCLUDED.input_kind, input_task = EXCLUDED.input_task, "
                "input_data = EXCLUDED.input_data, trace = EXCLUDED.trace",
                ("text", "float8", "text", "text", "text", "bytea", "text"),
                [(tid, now, router, kind, task, data, text) for tid, router, kind, task, data, text, _ in latest],
            )
            _insert_rows(
                conn,
                "INSERT INTO trace_summaries (trace_id, created, router, answered, error_kind, elapsed_ms, "
                "cost_units, confidence, disagreement, picks) {} "
                "ON CONFLICT (trace_id) DO UPDATE SET seq = DEFAULT, created = EXCLUDED.created, "
                "router = EXCLUDED.router, answered = EXCLUDED.answered, error_kind = EXCLUDED.error_kind, "
                "elapsed_ms = EXCLUDED.elapsed_ms, cost_units = EXCLUDED.cost_units, "
                "confidence = EXCLUDED.confidence, disagreement = EXCLUDED.disagreement, picks = EXCLUDED.picks",
                ("text", "float8", "text", "int4", "text", "float8", "float8", "float8", "float8", "text"),
                summaries,
            )
            for sql, params in stats_totals_upserts(replaced, summaries):
                conn.execute(_dialect(sql), params)
            self._add_to_count(conn, len(ids) - len(replaced))
            self._prune(conn, max(PRUNE_AT_LEAST, 2 * len(rows)), time.time())

    def _trace_count(self, conn: Any) -> int:
        rows = conn.execute("SELECT value FROM meta WHERE key = 'trace_count'").fetchall()
        if rows:
            return int(rows[0][0])
        count = conn.execute("SELECT COUNT(*) FROM trace_summaries").fetchone()[0]
        conn.execute("INSERT INTO meta VALUES ('trace_count', %s)", (str(count),))
        return int(count)

    def _add_to_count(self, conn: Any, change: int) -> None:
        if change:
            conn.execute("UPDATE meta SET value = (value::bigint + %s)::text WHERE key = 'trace_count'", (change,))

    def _prune(self, conn: Any, at_most: int, now: float) -> int:
        """Delete up to `at_most` of the oldest traces the retention no longer keeps, with their
        summaries, feedback and decisions (walking the `created` index from its oldest end)."""
        excess = self._trace_count(conn) - self.max_traces if self.max_traces else 0
        cutoff = now - self.retention_days * 86400.0 if self.retention_days else None
        oldest = conn.execute("SELECT MIN(created) FROM trace_summaries").fetchone()[0]
        if excess <= 0 and (cutoff is None or oldest is None or oldest >= cutoff):
            return 0
        doomed = [
            trace_id
            for index, (trace_id, created) in enumerate(
                conn.execute(
                    "SELECT trace_id, created FROM trace_summaries ORDER BY created, seq LIMIT %s", (at_most,)
                ).fetchall()
            )
            if index < excess or (cutoff is not None and created < cutoff)
        ]
        if doomed:
            for table in ("traces", "trace_summaries", "feedback", "decisions"):
                conn.execute(f"DELETE FROM {table} WHERE trace_id = ANY(%s)", (doomed,))
            self._add_to_count(conn, -len(doomed))
        return len(doomed)

    def record_decisions(self, events: list[DecisionEvent]) -> None:
        if not events:
            return
        with self._transaction("log") as conn:
            _insert_rows(
                conn,
                "INSERT INTO decisions (trace_id, router, record, event_id, replica, model_version, created) "
                "{} ON CONFLICT (trace_id, router) DO NOTHING",
                ("text", "text", "text", "text", "text", "int8", "float8"),
                [(e.trace_id, e.router, e.record, e.event_id, e.replica, e.model_version, e.created) for e in events],
            )

    # -- router and expert state -----------------------------------------------------------------------
    def reset_experts(self, name: str | None = None) -> int:
        with self._transaction("learn") as conn:
            where, params = ("WHERE name = %s OR expert_id = %s", (name, name)) if name is not None else ("", ())
            return int(conn.execute(f"DELETE FROM expert_state {where}", params).rowcount)

    # -- one learner, versioned snapshots (learning = "learner") ----------------------------------------
    @contextmanager
    def leadership(
        self, on_wait: Callable[[], None] | None = None, poll_s: float = 1.0
    ) -> Iterator[Callable[[], bool]]:
        """Lead the learners of this schema: a session-level advisory lock on a connection of its
        own, held until the block ends or the connection dies (the process was killed: the server
        frees the lock, and a standby takes over). Waits while another learner leads, calling
        `on_wait` once. Yields a check that the lock is still held."""
        psycopg = self._psycopg
        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
        except psycopg.Error as exc:
            raise self._state_error(exc) from None
        key = "SELECT hashtext(current_schema() || ':learner')"
        try:
            with self._translated():
                told = False
                while not conn.execute(f"SELECT pg_try_advisory_lock(({key}))").fetchone()[0]:
                    if not told and on_wait is not None:
                        on_wait()
                        told = True
                    time.sleep(poll_s)

            def leading() -> bool:
                # A session lock is released only by its session's end: a live connection still holds it.
                try:
                    conn.execute("SELECT 1")
                    return True
                except psycopg.Error:
                    return False

            yield leading
        finally:
            conn.close()

    def learner_position(self) -> int:
        """Where the learner resumes in the decision log (0: from the start)."""
        rows = self._read("SELECT value FROM meta WHERE key = 'learner_position'")
        return int(rows[0][0]) if rows else 0

    def snapshot(self) -> tuple[int, float]:
        """(version, seconds since the epoch it was published) of the newest model snapshot; (0, 0.0)
        before the first."""
        rows = dict(self._read("SELECT key, value FROM meta WHERE key IN ('snapshot_version', 'snapshot_time')"))
        return int(rows.get("snapshot_version", 0)), float(rows.get("snapshot_time", 0.0))

    def publish(self, start: int, position: int) -> int:
        """Inside `exclusive()`, after the learner saved the state it learned from the log up to
        `position`: move its cursor from `start` to `position` and number the snapshot, in the
        learning transaction — state and cursor commit together, and NOTIFY reaches the replicas
        at that commit. StateError if the cursor is no longer at `start` (another learner took
        over: this one's work rolls back). Returns the snapshot's version."""
        with self._transaction("learn") as conn:
            held = conn.execute("SELECT value FROM meta WHERE key = 'learner_position' FOR UPDATE").fetchall()
            if (int(held[0][0]) if held else 0) != start:
                raise StateError(
                    f"state store {self.location!r}: another learner moved the log position "
                    f"({held[0][0] if held else 0}, expected {start}); this one stops — its batch was rolled back"
                )
            version = self.snapshot()[0] + 1
            now = time.time()
            for key, value in (
                ("learner_position", position),
                ("snapshot_version", version),
                ("snapshot_time", repr(now)),
            ):
                conn.execute(
                    "INSERT INTO meta VALUES (%s, %s) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
                    (key, str(value)),
                )
            conn.execute("SELECT pg_notify(%s, current_schema() || ' ' || %s)", (SNAPSHOT_CHANNEL, str(version)))
        return version

    def listener(self) -> Any:
        """A connection of its own LISTENing for snapshot notices (psycopg's `notifies()`);
        the caller closes it."""
        psycopg = self._psycopg
        try:
            conn = psycopg.connect(self.url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)
            conn.execute(f"LISTEN {SNAPSHOT_CHANNEL}")
        except psycopg.Error as exc:
            raise self._state_error(exc) from None
        return conn

    # -- what `himoe stats` reads -----------------------------------------------------------------------
    def latency_percentiles(self, percents: Iterable[float]) -> dict[float, float | None]:
        """Interpolated as numpy's default does (percentile_cont), over answered requests."""
        percents = list(percents)
        if not percents:
            return {}
        values = self._read(
            "SELECT percentile_cont(%s::float8[]) WITHIN GROUP (ORDER BY elapsed_ms) FROM trace_summaries "
            "WHERE answered = 1 AND elapsed_ms IS NOT NULL",
            ([q / 100.0 for q in percents],),
        )[0][0]
        return {q: (values[i] if values is not None else None) for i, q in enumerate(percents)}

    def recent_answered_traces(self, n: int) -> list[str]:
        return [
            row[0]
            for row in self._read(
                "SELECT t.trace FROM (SELECT trace_id, created, seq FROM trace_summaries WHERE answered = 1 "
                "ORDER BY created DESC, seq DESC LIMIT %s) s JOIN traces t ON t.trace_id = s.trace_id "
                "ORDER BY s.created DESC, s.seq DESC",
                (n,),
            )
        ]


def _dialect(sql: str) -> str:
    """The shared statements' `?` placeholders as psycopg's `%s` (none of them holds a literal `?`)."""
    return sql.replace("?", "%s")


def _insert_rows(conn: Any, sql: str, types: tuple[str, ...], rows: list[tuple[Any, ...]]) -> None:
    """`sql` with its `{}` a SELECT of `rows` (of these PostgreSQL types), in their order: one
    statement whatever their number, each column sent as one binary array. Against `executemany`
    (pipelined, a row at a time) it takes a third of the client's CPU per row (2.8 µs against
    9.9, on batches of 256 rows of a decision's size), and waits for the server once, not per
    row; its text is the same whatever the number of rows, so psycopg prepares it once."""
    if not rows:
        return
    names = [f"c{i}" for i in range(len(types))]
    columns = [
        [None if value is None else _ADAPT[kind](value) for value in column] if kind in _ADAPT else list(column)
        for kind, column in zip(types, zip(*rows))
    ]
    select = (
        f"SELECT {', '.join(names)} FROM unnest({', '.join(f'%b::{kind}[]' for kind in types)}) "
        f"WITH ORDINALITY AS rows({', '.join(names)}, position) ORDER BY position"
    )
    conn.execute(sql.format(select), columns)


_ADAPT: dict[str, Callable[[Any], Any]] = {"float8": float, "int4": int, "int8": int}
"""Numbers of one type per array (psycopg refuses a list mixing int and float)."""


def _password(url: str) -> str | None:
    from urllib.parse import unquote, urlsplit

    try:
        password = urlsplit(url).password
    except ValueError:
        return None
    return unquote(password) if password else None
