from __future__ import annotations

import contextlib
import json
import os
import shlex
import sqlite3
import stat
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from .._errors import StateError
from ._sql_state_store import SqlStateStore, TraceRow
from .decision_event import DecisionEvent
from .state_location import default_state_path
from .state_schema import (
    APPLICATION,
    DEFAULT_MAX_TRACES,
    DEFAULT_RETENTION_DAYS,
    IDS_PER_STATEMENT,
    PRUNE_AT_LEAST,
    SCHEMA_VERSION,
    TOTALS_SCHEMA,
    chunks,
    seed_totals,
    stats_totals_upserts,
    summary_row,
)

_SUMMARY_COLUMNS = (
    "trace_id, created, router, answered, error_kind, elapsed_ms, cost_units, confidence, disagreement, picks"
)
_ROWS_PER_INSERT = 128  # 7 parameters a row, well under SQLite's 32,766
LOCK_TIMEOUT_S = 30.0

_SCHEMA_V1 = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS traces (
    trace_id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    router TEXT,
    input_kind TEXT NOT NULL,
    input_task TEXT,
    input_data BLOB NOT NULL,
    trace TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS traces_created ON traces (created);
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    trace_id TEXT NOT NULL,
    created REAL NOT NULL,
    router TEXT,
    reward REAL,
    task_loss REAL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS feedback_trace ON feedback (trace_id);
CREATE TABLE IF NOT EXISTS router_state (
    router_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    version INTEGER NOT NULL,
    scalars TEXT NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS router_arrays (
    router_id TEXT NOT NULL,
    name TEXT NOT NULL,
    dtype TEXT NOT NULL,
    shape TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (router_id, name)
);
CREATE TABLE IF NOT EXISTS expert_state (
    expert_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    state TEXT NOT NULL,
    updated REAL NOT NULL
);
"""

_DECISIONS = """
CREATE TABLE IF NOT EXISTS decisions (
    trace_id TEXT NOT NULL,
    router TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (trace_id, router)
);
"""
"""Version 2: each answered decision's record (himoe_core._decision.decision_codec), what
feedback and off-policy evaluation learn from. Traces written before it have none."""

_SUMMARIES = """
CREATE TABLE IF NOT EXISTS trace_summaries (
    trace_id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    router TEXT,
    answered INTEGER NOT NULL,
    error_kind TEXT,
    elapsed_ms REAL,
    cost_units REAL,
    confidence REAL,
    disagreement REAL,
    picks TEXT
);
CREATE INDEX IF NOT EXISTS trace_summaries_created ON trace_summaries (created);
CREATE INDEX IF NOT EXISTS trace_summaries_latency ON trace_summaries (elapsed_ms)
    WHERE answered = 1 AND elapsed_ms IS NOT NULL;
ALTER TABLE feedback ADD COLUMN confidence REAL;
ALTER TABLE expert_state ADD COLUMN version INTEGER NOT NULL DEFAULT 0
"""
"""Version 3: what `himoe stats` counts, a narrow row per trace written with it (stats then
aggregates in SQL instead of reading every trace's JSON); the answer's confidence on each
feedback row; a version on each expert's state, as routers have."""

_DECISION_LOG = """
ALTER TABLE decisions ADD COLUMN event_id TEXT;
ALTER TABLE decisions ADD COLUMN replica TEXT;
ALTER TABLE decisions ADD COLUMN model_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE decisions ADD COLUMN created REAL;
UPDATE decisions SET created = COALESCE((SELECT t.created FROM traces t WHERE t.trace_id = decisions.trace_id), 0);
ALTER TABLE feedback ADD COLUMN event_id TEXT;
ALTER TABLE feedback ADD COLUMN replica TEXT
"""
"""Version 4: the decision log. Each decision's event id, the replica that made it, the model
version it was made with and when (its reward window starts then); each feedback event's id and
replica. Decisions are appended (the log's order is their rowid), feedback joins them in SQL."""


def _summarise_stored_traces(conn: sqlite3.Connection) -> None:
    """Fill trace_summaries from the traces already in the file (once, when it is migrated)."""
    cursor = conn.execute("SELECT trace_id, trace, created FROM traces ORDER BY created, rowid")
    while rows := cursor.fetchmany(1024):
        conn.executemany(
            "INSERT OR REPLACE INTO trace_summaries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [summary_row(trace_id, json.loads(trace), created) for trace_id, trace, created in rows],
        )
    conn.execute(
        "UPDATE feedback SET confidence = (SELECT confidence FROM trace_summaries s "
        "WHERE s.trace_id = feedback.trace_id)"
    )


def _total_stored_rows(conn: sqlite3.Connection) -> None:
    """Version 5: the running totals, from the rows the file kept."""
    for sql, params in seed_totals(lambda query, args: conn.execute(query, args).fetchall()):
        conn.execute(sql, params)


# Each entry migrates a database from version i to i + 1: SQL, then an optional Python step.
_MIGRATIONS: list[tuple[str, Any]] = [
    (_DECISIONS, None),
    (_SUMMARIES, _summarise_stored_traces),
    (_DECISION_LOG, None),
    (TOTALS_SCHEMA, _total_stored_rows),
]


class SqliteStateStore(SqlStateStore):
    """Learned state in one SQLite file (WAL): router parameters and expert state keyed by id,
    traces with their inputs and gate propensities, and every feedback row.

    Several processes may write at once: each write is one IMMEDIATE transaction, and router
    state carries a version so a writer can reload what another process learned before it
    applies its own update. Arrays are stored as raw bytes with dtype and shape — never pickle.
    The file is created owner-only (0600). A file that is not a himoe state, or comes from a
    newer himoe, is refused with a clear error and never overwritten.
    """

    _ORDER = "rowid"

    def __init__(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        retention_days: float = DEFAULT_RETENTION_DAYS,
        max_traces: int = DEFAULT_MAX_TRACES,
    ) -> None:
        self.path = Path(path) if path is not None else default_state_path()
        self.retention_days = retention_days  # 0: no age limit
        self.max_traces = max_traces  # 0: no count limit
        self._lock = threading.RLock()
        self._in_transaction = False
        self._conn = self._open()

    @property
    def location(self) -> str:
        return str(self.path)

    # -- opening and migrating ----------------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        memory = str(self.path) == ":memory:"
        if not memory:
            self._create_owner_only()
        conn = None
        try:
            conn = sqlite3.connect(
                str(self.path), timeout=LOCK_TIMEOUT_S, isolation_level=None, check_same_thread=False
            )
            conn.execute(f"PRAGMA busy_timeout = {int(LOCK_TIMEOUT_S * 1000)}")
            # Identify the file before anything writes to it: switching to WAL rewrites the header
            # of a database that is not ours. (_migrate checks again under the write lock.)
            self._identify(conn)
            if not memory:
                self._check_mode()
                _enable_wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
            self._migrate(conn)
        except sqlite3.DatabaseError as exc:
            if conn is not None:
                conn.close()
            if _is_locked(exc) or _is_read_only(exc) or not self._writable():
                raise self._state_error(exc) from None
            raise StateError(
                f"state file {str(self.path)!r} is not a usable SQLite database ({exc}); "
                "move it away or point HIMOE_STATE elsewhere — it was left untouched"
            ) from None
        except BaseException:
            if conn is not None:
                conn.close()
            raise
        return conn

    def _create_owner_only(self) -> None:
        """Create the file 0600 unless it exists — through a symlink too: the file it points at is
        created, owner-only, rather than left to SQLite, which would create it 0644."""
        target = Path(os.path.realpath(self.path))
        where = f"state file {str(self.path)!r}" + (
            f" (a link to {str(target)!r})" if target != self.path.absolute() else ""
        )
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            blocker = next(
                (p for p in [target.parent, *target.parent.parents] if p.exists() and not p.is_dir()), target.parent
            )
            raise StateError(
                f"cannot create {where}: {str(blocker)!r} is a file, not a folder; point "
                "HIMOE_STATE or [state] path at a file in a folder"
            ) from None
        except OSError as exc:
            raise StateError(
                f"cannot create the folder of {where}: {exc.strerror}; point HIMOE_STATE or "
                "[state] path at a folder you can write"
            ) from None
        if target.is_dir():
            raise StateError(f"{where} is a folder; point HIMOE_STATE or [state] path at a file")
        try:
            fd = os.open(target, os.O_CREAT | os.O_WRONLY | os.O_EXCL, stat.S_IRUSR | stat.S_IWUSR)
        except FileExistsError:
            return  # it exists (another process may have created it just now): _check_mode looks at it
        except OSError as exc:
            raise StateError(
                f"cannot create {where}: {exc.strerror}; point HIMOE_STATE or [state] path at a folder you can write"
            ) from None
        os.close(fd)

    def _check_mode(self) -> None:
        """Refuse a file other users can read or write: it holds every request's input, and
        whoever can write it decides what the routers learn. (An empty file of ours is fixed.)"""
        try:
            info = os.stat(self.path)
        except OSError:
            return  # SQLite reports it more precisely
        loose = stat.S_IMODE(info.st_mode) & 0o077
        if not loose or not stat.S_ISREG(info.st_mode):
            return
        if info.st_size == 0 and info.st_uid == os.geteuid():
            os.chmod(self.path, stat.S_IRUSR | stat.S_IWUSR)
            return
        raise StateError(
            f"state file {str(self.path)!r} can be read or written by other users (mode "
            f"{stat.S_IMODE(info.st_mode):04o}), and it holds every request's input; make it "
            f"owner-only (chmod 600 {shlex.quote(str(self.path))}) or point HIMOE_STATE elsewhere"
        )

    def _writable(self) -> bool:
        """Whether this process may write the file and create its -wal and -shm files beside it."""
        if str(self.path) == ":memory:":
            return True
        return os.access(self.path, os.W_OK) and os.access(Path(os.path.realpath(self.path)).parent, os.W_OK)

    def _state_error(self, exc: sqlite3.DatabaseError) -> StateError:
        """What a failed SQLite call means for the user, and what to do about it."""
        where = f"state file {str(self.path)!r}"
        if _is_locked(exc):
            return StateError(
                f"{where} stayed locked by another process for {LOCK_TIMEOUT_S:g} s; retry when it "
                "is done, or point HIMOE_STATE elsewhere",
                transient=True,
            )
        if _is_read_only(exc) or not self._writable():
            return StateError(
                f"{where} is read-only here: himoe writes to it, and beside it (its -wal and -shm "
                "files), even to read; make the file and its folder writable, or point HIMOE_STATE "
                "elsewhere"
            )
        if isinstance(exc, sqlite3.OperationalError) and "disk" in str(exc) and "full" in str(exc):
            return StateError(f"{where}: the disk is full ({exc}); free some space")
        return StateError(
            f"{where} is damaged ({exc}); move it away (himoe then starts a new one, and routers "
            f"learn again) or try `sqlite3 {shlex.quote(str(self.path))} .recover`"
        )

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """SQLite's errors as one StateError saying what to do (a raw DatabaseError told nothing)."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, (sqlite3.ProgrammingError, sqlite3.InterfaceError)):
                raise  # a bad value, not a bad file: the caller's bug
            raise self._state_error(exc) from exc

    def _identify(self, conn: sqlite3.Connection) -> set[str]:
        """The file's tables, after checking (read-only) that it is a himoe state this himoe
        understands, or a new, empty database."""
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            return tables
        foreign = StateError(
            f"state file {str(self.path)!r} is a SQLite database of another application "
            f"(tables: {', '.join(sorted(tables))}); it was left untouched — "
            "point HIMOE_STATE or [state] path at another file"
        )
        if "meta" not in tables:
            raise foreign
        try:
            meta = dict(conn.execute("SELECT key, value FROM meta"))
        except sqlite3.OperationalError:  # a `meta` table of some other shape
            raise foreign from None
        if meta.get("application") != APPLICATION:
            raise StateError(f"state file {str(self.path)!r} does not belong to himoe; it was left untouched")
        version = str(meta.get("schema_version", ""))
        if not version.isdigit() or int(version) < 1:
            raise StateError(
                f"state file {str(self.path)!r} has no valid schema version ({version!r}); "
                "it was left untouched — move it away or point HIMOE_STATE elsewhere"
            )
        if int(version) > SCHEMA_VERSION:
            raise StateError(
                f"state file {str(self.path)!r} has schema version {version}, newer than this "
                f"himoe understands ({SCHEMA_VERSION}); upgrade himoe — the file was left untouched"
            )
        return tables

    def _migrate(self, conn: sqlite3.Connection) -> None:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if not self._identify(conn):  # checked again: another process may have created it since
                _run_script(conn, _SCHEMA_V1)
                conn.execute("INSERT INTO meta VALUES ('application', ?), ('schema_version', '1')", (APPLICATION,))
            version = int(dict(conn.execute("SELECT key, value FROM meta")).get("schema_version", "0"))
            for step in range(version, SCHEMA_VERSION):
                script, python_step = _MIGRATIONS[step - 1]
                _run_script(conn, script)
                if python_step is not None:
                    python_step(conn)
            conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION),))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """One write transaction spanning several calls (read a version, then write on it):
        no other process writes in between."""
        with self._lock:
            if self._in_transaction:
                yield
                return
            with self._translated():
                self._conn.execute("BEGIN IMMEDIATE")
            self._in_transaction = True
            try:
                try:
                    yield
                except sqlite3.DatabaseError as exc:
                    if isinstance(exc, (sqlite3.ProgrammingError, sqlite3.InterfaceError)):
                        raise
                    raise self._state_error(exc) from exc
                with self._translated():
                    self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    with contextlib.suppress(sqlite3.Error):  # the error that brought us here says more
                        self._conn.execute("ROLLBACK")
                raise
            finally:
                self._in_transaction = False

    appending = exclusive  # one file, one write lock: the log's transaction is the same kind

    def _write(self, statements: Iterable[tuple[str, tuple[Any, ...]]]) -> None:
        with self.exclusive():
            for sql, params in statements:
                self._conn.execute(sql, params)

    def _read(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[tuple[Any, ...]]:
        with self._lock, self._translated():
            return self._conn.execute(sql, params).fetchall()

    def _session(self) -> threading.RLock:
        return self._lock

    def _writing(self) -> AbstractContextManager[None]:
        return self.exclusive()

    # -- traces (the writer and its retention) -----------------------------------------------------------------------
    def _record(self, rows: list[TraceRow], now: float) -> None:
        """Write traces and their summaries, then prune what the retention no longer keeps — a
        bounded number of rows, in the same transaction."""
        summaries = [row[6] for row in rows]
        with self.exclusive():
            self._trace_count()  # counted before these rows go in (the first time only)
            ids = list({row[0]: None for row in rows})
            replaced = [
                row
                for chunk in chunks(ids, IDS_PER_STATEMENT)
                for row in self._conn.execute(
                    f"SELECT {_SUMMARY_COLUMNS} FROM trace_summaries WHERE trace_id IN ({_marks(chunk)})", chunk
                )
            ]
            # One statement per chunk of rows: sqlite3 lets go of the GIL around every statement,
            # and a writer thread beside a busy event loop waits up to the switch interval (5 ms)
            # to get it back — per row, that starved the writer under load.
            for start in range(0, len(rows), _ROWS_PER_INSERT):
                chunk = rows[start : start + _ROWS_PER_INSERT]
                values = ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * len(chunk))
                params = [
                    value
                    for trace_id, router, kind, task, data, trace_json, _ in chunk
                    for value in (trace_id, now, router, kind, task, data, trace_json)
                ]
                self._conn.execute(f"INSERT OR REPLACE INTO traces VALUES {values}", params)
                values = ", ".join(["(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"] * len(chunk))
                params = [value for row in summaries[start : start + _ROWS_PER_INSERT] for value in row]
                self._conn.execute(f"INSERT OR REPLACE INTO trace_summaries VALUES {values}", params)
            # The last row of a trace id is the one kept: the totals count it alone.
            for sql, params in stats_totals_upserts(replaced, {row[0]: row for row in summaries}.values()):
                self._conn.execute(sql, params)
            self._add_to_count(len(ids) - len(replaced))
            self._prune(max(PRUNE_AT_LEAST, 2 * len(rows)), time.time())

    # -- retention ---------------------------------------------------------------------------------
    def _trace_count(self) -> int:
        rows = self._conn.execute("SELECT value FROM meta WHERE key = 'trace_count'").fetchall()
        if rows:
            return int(rows[0][0])
        count = self._conn.execute("SELECT COUNT(*) FROM trace_summaries").fetchone()[0]  # once per file
        self._conn.execute("INSERT INTO meta VALUES ('trace_count', ?)", (str(count),))
        return int(count)

    def _add_to_count(self, change: int) -> None:
        count = self._trace_count()
        if change:
            self._conn.execute("UPDATE meta SET value = ? WHERE key = 'trace_count'", (str(count + change),))

    def _prune(self, at_most: int, now: float) -> int:
        """Delete up to `at_most` of the oldest traces that the retention no longer keeps (with
        their feedback and decision records): beyond `max_traces`, or older than
        `retention_days`. Walks the `created` index from its oldest end only."""
        excess = self._trace_count() - self.max_traces if self.max_traces else 0
        cutoff = now - self.retention_days * 86400.0 if self.retention_days else None
        oldest = self._conn.execute("SELECT MIN(created) FROM trace_summaries").fetchone()[0]
        if excess <= 0 and (cutoff is None or oldest is None or oldest >= cutoff):
            return 0
        doomed = [
            trace_id
            for index, (trace_id, created) in enumerate(
                self._conn.execute(
                    "SELECT trace_id, created FROM trace_summaries ORDER BY created, rowid LIMIT ?", (at_most,)
                )
            )
            if index < excess or (cutoff is not None and created < cutoff)
        ]
        self._delete_traces(doomed)
        return len(doomed)

    def _delete_traces(self, trace_ids: list[str]) -> None:
        tables = ["traces", "trace_summaries", "feedback"] + (["decisions"] if self._has_table("decisions") else [])
        for chunk in chunks(trace_ids, IDS_PER_STATEMENT):
            for table in tables:
                self._conn.execute(f"DELETE FROM {table} WHERE trace_id IN ({_marks(chunk)})", chunk)
        self._add_to_count(-len(trace_ids))

    def _has_table(self, name: str) -> bool:
        return bool(
            self._conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)).fetchall()
        )

    # -- what `himoe stats` reads ------------------------------------------------------------------
    def latency_percentiles(self, percents: Iterable[float]) -> dict[float, float | None]:
        """Percentiles of answered requests' latency, interpolated as numpy's default does,
        read from the latency index (two rows each, not the whole column)."""
        with self._lock, self._translated():
            where = "FROM trace_summaries WHERE answered = 1 AND elapsed_ms IS NOT NULL"
            count = self._conn.execute(f"SELECT COUNT(*) {where}").fetchone()[0]
            found: dict[float, float | None] = {}
            for q in percents:
                if not count:
                    found[q] = None
                    continue
                rank = q / 100.0 * (count - 1)
                low = int(rank)
                values = [
                    row[0]
                    for row in self._conn.execute(
                        f"SELECT elapsed_ms {where} ORDER BY elapsed_ms LIMIT 2 OFFSET ?", (low,)
                    )
                ]
                high = values[1] if len(values) > 1 else values[0]
                found[q] = values[0] + (high - values[0]) * (rank - low)
            return found

    def recent_answered_traces(self, n: int) -> list[str]:
        """The JSON of the last `n` answered traces, newest first."""
        with self._lock, self._translated():
            ids = [
                row[0]
                for row in self._conn.execute(
                    "SELECT trace_id FROM trace_summaries WHERE answered = 1 ORDER BY created DESC, rowid DESC LIMIT ?",
                    (n,),
                )
            ]
            found: dict[str, str] = {}
            for chunk in chunks(ids, IDS_PER_STATEMENT):
                found.update(
                    self._conn.execute(
                        f"SELECT trace_id, trace FROM traces WHERE trace_id IN ({_marks(chunk)})", chunk
                    ).fetchall()
                )
        return [found[trace_id] for trace_id in ids if trace_id in found]

    def record_decisions(self, events: list[DecisionEvent]) -> None:
        """Append decisions to the log; one already logged (same trace and router) is kept."""
        if not events:
            return
        with self.exclusive():
            # A statement per chunk of rows, not `executemany`: that lets go of the GIL at every
            # row, and each time the event loop takes it the writer waits to get it back (in
            # the engine: 35 µs of CPU a decision, against under 10 µs so).
            for chunk in chunks(events, _ROWS_PER_INSERT):
                self._conn.execute(
                    "INSERT OR IGNORE INTO decisions (trace_id, router, record, event_id, replica, model_version, "
                    "created) VALUES " + ", ".join(["(?, ?, ?, ?, ?, ?, ?)"] * len(chunk)),
                    [
                        value
                        for e in chunk
                        for value in (e.trace_id, e.router, e.record, e.event_id, e.replica, e.model_version, e.created)
                    ],
                )

    # -- router and expert state -------------------------------------------------------------------
    def reset_experts(self, name: str | None = None) -> int:
        """Forget the saved state of the experts called `name` (or whose id it is; every expert
        with None); how many states were deleted."""
        with self.exclusive():
            where, params = ("WHERE name = ? OR expert_id = ?", (name, name)) if name is not None else ("", ())
            self._conn.execute(f"DELETE FROM expert_state {where}", params)
            return int(self._conn.execute("SELECT changes()").fetchone()[0])


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    """Statement by statement: `executescript` would commit the surrounding transaction."""
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _marks(items: list[Any]) -> str:
    return ", ".join("?" * len(items))


def _is_read_only(exc: sqlite3.DatabaseError) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "readonly" in str(exc)


def _is_locked(exc: sqlite3.DatabaseError) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in str(exc) or "busy" in str(exc))


def _enable_wal(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL, waiting for the exclusive lock this needs. SQLite does not call
    the busy handler here (waiting while holding a shared lock could deadlock), so processes
    opening a new state file together would fail at once without this loop."""
    deadline = time.monotonic() + LOCK_TIMEOUT_S
    delay = 0.001
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL").fetchall()
            return
        except sqlite3.OperationalError as exc:
            if not _is_locked(exc) or time.monotonic() + delay > deadline:
                raise
            time.sleep(delay)
            delay = min(2 * delay, 0.05)
