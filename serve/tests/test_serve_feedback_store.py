"""`POST /v1/feedback` when the state store fails, through a real server on loopback and a real
SQLite state file: a fault that passes by itself is 503 with Retry-After, one of the server's
own store is 500, neither ever blames the client (400) nor shows a traceback."""

from __future__ import annotations

import sqlite3

import pytest

from himoe_core.testing import EchoExpert


def state_config(path) -> dict:
    return {"state": {"enabled": True, "path": str(path)}}


def answered_trace(server) -> str:
    with server.client() as http:
        reply = http.post(
            "/v1/chat/completions", json={"model": "himoe", "messages": [{"role": "user", "content": "hi"}]}
        )
        assert reply.status_code == 200, reply.text
        return reply.headers["x-himoe-trace-id"]


def feedback(server, trace_id):
    with server.client() as http:
        return http.post("/v1/feedback", json={"trace_id": trace_id, "reward": 1.0})


def assert_server_error(reply, status, code, log: str, *words):
    """The client gets the status and code, and the log the store's own words, which name the
    server's file: they are not sent."""
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert error["type"] == "server_error" and error["code"] == code, error
    assert all(word in log and word not in reply.text for word in words), (log, reply.text)
    assert "Traceback" not in reply.text and "state.db" not in reply.text


def test_a_damaged_stored_decision_is_a_500_and_the_log_names_the_file_and_what_to_do(server_factory, tmp_path, caplog):
    path = tmp_path / "state.db"
    first = server_factory(experts=(EchoExpert("echo"),), config=state_config(path))
    trace_id = answered_trace(first)
    first.stop()  # its decision is on disk, and only there
    with sqlite3.connect(path) as conn:
        assert conn.execute("UPDATE decisions SET record = '{not json' WHERE trace_id = ?", (trace_id,)).rowcount == 1
    server = server_factory(experts=(EchoExpert("echo"),), config=state_config(path))
    reply = feedback(server, trace_id)
    assert_server_error(reply, 500, "state_store_failed", caplog.text, "state file is damaged", "not valid JSON")
    assert f"feedback on trace {trace_id} not recorded" in caplog.text  # the operator is told


def test_a_state_file_locked_past_its_timeout_is_a_503_to_retry(server_factory, tmp_path, monkeypatch, caplog):
    from himoe_core.state import sqlite_state_store

    monkeypatch.setattr(sqlite_state_store, "LOCK_TIMEOUT_S", 0.5)  # read when the server connects
    path = tmp_path / "state.db"
    server = server_factory(experts=(EchoExpert("echo"),), config=state_config(path))
    trace_id = answered_trace(server)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")  # another process's long write
    try:
        reply = feedback(server, trace_id)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert_server_error(reply, 503, "state_store_unavailable", caplog.text, "stayed locked by another process")
    assert reply.headers["retry-after"] == "1"
    # Once the lock is gone, the same feedback is taken: the 503 kept nothing and lost nothing.
    again = feedback(server, trace_id)
    assert again.status_code == 200 and again.json()["status"] == "learned", again.text


@pytest.mark.parametrize(
    "sqlite_error, status",
    [
        (sqlite3.OperationalError("database is locked"), 503),
        (sqlite3.OperationalError("attempt to write a readonly database"), 500),
        (sqlite3.OperationalError("database or disk is full"), 500),
        (sqlite3.DatabaseError("database disk image is malformed"), 500),
    ],
)
def test_each_fault_of_the_state_file_has_the_status_of_whose_it_is(tmp_path, sqlite_error, status):
    """The SQLite store's own messages (a read-only file, a full disk: faults root or a test
    cannot easily cause in a running server), mapped as a client would see them."""
    from himoe_serve.api_error import ApiError

    from himoe_core.state import SqliteStateStore

    store = SqliteStateStore(tmp_path / "state.db")
    try:
        fault = store._state_error(sqlite_error)
    finally:
        store.close()
    error = ApiError.of_store_fault(fault)
    assert (error.status, error.type) == (status, "server_error") and str(fault) not in error.message
    assert str(tmp_path) not in error.message
    assert error.code == ("state_store_unavailable" if status == 503 else "state_store_failed")
    assert (("retry-after", "1") in error.headers) == (status == 503)


@pytest.mark.parametrize(
    "message, transient, status",
    [
        ("cannot reach state store 'postgresql://h/db' (connection refused); check that PostgreSQL runs", True, 503),
        ("could not write traces to the state file: state file 'x' stayed locked by another process", True, 503),
        ("the learner lock on 'x' was lost with its connection", True, 503),
        (
            "router 'r' learned non-finite parameters (w) from the feedback on trace 't'; the update was rejected",
            False,
            400,
        ),
        ("state store 'y' failed (syntax error); check the server's log", False, 500),
        (
            "a stored decision has format version 9, this himoe reads versions 1, 2; upgrade himoe to read it",
            False,
            500,
        ),
    ],
)
def test_each_other_store_fault_has_the_status_of_whose_it_is(message, transient, status):
    from himoe_serve.api_error import ApiError

    from himoe_core import StateError

    error = ApiError.of_store_fault(StateError(message, transient=transient))
    assert error.status == status and (message in error.message) == (status == 400)
    assert error.type == ("invalid_request_error" if status == 400 else "server_error")
    assert (("retry-after", "1") in error.headers) == (status == 503)
