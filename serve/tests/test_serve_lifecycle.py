"""Lifecycle of `himoe serve`: a client that disconnects cancels its request and experts,
admission refuses with 429, a body that does not arrive is refused with 408 and holds neither
an admission slot nor the drain, SIGTERM drains and exits 0 with the traces written, and a
second signal during the drain cancels the requests in flight, still writes their traces and
exits 0."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import httpx
import pytest

from himoe_core.testing import EchoExpert, HangingExpert

HIMOE = Path(sys.executable).parent / "himoe"
PATIENCE_S = 120.0  # caps on waits for a busy machine; never a margin a test depends on


def wait_until(condition, what: str, timeout: float = PATIENCE_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting until {what}")
        time.sleep(0.01)


def open_request(url: str, text: str, *, receive_buffer: int | None = None) -> socket.socket:
    """Send a chat request on a raw connection and leave it waiting for its answer (with
    `receive_buffer`, the connection's socket buffer is that small: one that is never read
    holds no more)."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    body = (f'{{"model": "himoe", "messages": [{{"role": "user", "content": "{text}"}}]}}').encode()
    sock = socket.socket()
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)  # set before connecting
    sock.connect((host, int(port)))
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    )
    return sock


def listening_url(process: subprocess.Popen) -> str:
    """The URL a `himoe serve` process announces once it listens."""
    line = process.stdout.readline()
    assert line.startswith("himoe serve: listening on http://127.0.0.1:"), (line, process.stderr.read())
    return line.split()[4]


def chat_in_background(http: httpx.Client, text: str) -> tuple[threading.Thread, list[httpx.Response]]:
    """A chat request sent from a thread of its own, started; its answer lands in the list."""
    answers: list[httpx.Response] = []
    worker = threading.Thread(
        target=lambda: answers.append(
            http.post("/v1/chat/completions", json={"model": "himoe", "messages": [{"role": "user", "content": text}]})
        )
    )
    worker.start()
    return worker, answers


def open_partial_request(url: str) -> socket.socket:
    """Send a chat request's headers and the start of its 100-byte body, and no more."""
    host, port = url.removeprefix("http://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)))
    sock.sendall(
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 100\r\n\r\n{"model": "himoe", '
    )
    return sock


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], dict]:
    """Read until the server closes the connection: the status, the headers and the JSON body."""
    sock.settimeout(PATIENCE_S)
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), headers, json.loads(body)


def test_a_body_still_arriving_holds_no_admission_slot(server_factory):
    # a body timeout of an hour: the stalled request is still arriving when the other one is served
    server = server_factory(experts=(EchoExpert("echo", prefix="echo:"),), max_in_flight=1, body_timeout_s=3600)
    stalled = open_partial_request(server.url)
    try:
        wait_until(lambda: server.app.bodies_arriving == 1, "the stalled request reached the app")
        assert server.app.in_flight == 0  # not in flight until its body is here
        with server.client() as http:  # the one slot is free for a request that sends its body
            answer = http.post(
                "/v1/chat/completions",
                json={"model": "himoe", "messages": [{"role": "user", "content": "echo: not blocked"}]},
            )
            assert answer.status_code == 200, answer.text
        assert server.app.bodies_arriving == 1  # served while the other body was still arriving
    finally:
        stalled.close()
    wait_until(lambda: server.app.bodies_arriving == 0, "the closed connection's request left")


def test_a_body_that_does_not_arrive_in_time_is_408(server_factory):
    server = server_factory(experts=(EchoExpert("echo", prefix="echo:"),), body_timeout_s=0.5)
    stalled = open_partial_request(server.url)
    try:
        status, headers, body = read_response(stalled)  # then the server closes the connection
    finally:
        stalled.close()
    assert status == 408 and headers["connection"] == "close"
    assert body["error"]["code"] == "body_timeout" and body["error"]["type"] == "invalid_request_error"
    assert "[serve] body_timeout_s" in body["error"]["message"]
    wait_until(lambda: server.app.bodies_arriving == 0 and server.app.in_flight == 0, "the request left")


def test_the_drain_refuses_a_body_still_arriving_instead_of_waiting_for_it(server_factory):
    # a body timeout of an hour: only the drain can end the stalled request
    server = server_factory(experts=(EchoExpert("echo", prefix="echo:"),), body_timeout_s=3600)
    stalled = open_partial_request(server.url)
    try:
        wait_until(lambda: server.app.bodies_arriving == 1, "the stalled request reached the app")
        server.call_in_loop(server._shutdown.set)
        status, headers, body = read_response(stalled)
        server.stop()  # asserts the server stopped while the client still holds its connection open
    finally:
        stalled.close()
    assert status == 503 and body["error"]["code"] == "draining" and headers["retry-after"] == "1"


def test_a_client_that_disconnects_leaves_no_expert_running(server_factory, caplog):
    hanging = HangingExpert("hanging", prefix="hang:")
    server = server_factory(
        experts=(hanging, EchoExpert("echo", prefix="echo:")), config={"himoe": {"budget_ms": 3_600_000}}
    )  # only the disconnect can end it
    caplog.set_level(logging.INFO, logger="himoe.serve.access")
    sock = open_request(server.url, "hang: forever")
    wait_until(lambda: hanging.calls == 1, "the hanging expert was called")
    assert hanging.cancelled == 0 and server.app.in_flight == 1
    sock.close()
    wait_until(lambda: hanging.cancelled == 1, "the hanging expert saw the cancellation")
    wait_until(lambda: server.app.in_flight == 0, "the request left")
    with server.client() as http:
        assert (
            http.post(
                "/v1/chat/completions",
                json={"model": "himoe", "messages": [{"role": "user", "content": "echo: still serving"}]},
            ).status_code
            == 200
        )
        metrics = http.get("/metrics").text  # counted before in_flight dropped to 0
    assert 'himoe_requests_total{router="default",status="499"} 1.0' in metrics
    assert 'himoe_expert_calls_total{expert="hanging",status="cancelled"} 1.0' in metrics
    [gone, _] = [r.getMessage() for r in caplog.records if r.getMessage().startswith("POST /v1/chat")]
    assert gone.startswith("POST /v1/chat/completions 499 "), gone  # the access log says 499 too


def test_admission_pressure_is_429_with_retry_after(server_factory):
    hanging = HangingExpert("hanging", prefix="hang:")
    server = server_factory(
        experts=(hanging, EchoExpert("echo", prefix="echo:")),
        config={"himoe": {"budget_ms": 3_600_000}},
        max_in_flight=1,
    )
    sock = open_request(server.url, "hang: forever")
    try:
        wait_until(lambda: server.app.in_flight == 1, "the first request is in flight")
        with server.client() as http:
            refused = http.post(
                "/v1/chat/completions",
                json={"model": "himoe", "messages": [{"role": "user", "content": "echo: one more"}]},
            )
            assert refused.status_code == 429
            assert refused.headers["retry-after"] == "1"
            assert refused.json()["error"] == {
                "message": refused.json()["error"]["message"],
                "type": "rate_limit_error",
                "code": "overloaded",
                "param": None,
            }
            assert "max_in_flight" in refused.json()["error"]["message"]
            assert http.get("/readyz").status_code == 200  # probes are not routing requests
            metrics = http.get("/metrics").text
            assert 'himoe_admission_rejections_total{reason="max_in_flight"} 1.0' in metrics
            assert 'himoe_requests_total{router="-",status="429"} 1.0' in metrics  # in the error rate
    finally:
        sock.close()
    wait_until(lambda: server.app.in_flight == 0, "the first request left")
    with server.client() as http:
        assert (
            http.post(
                "/v1/chat/completions", json={"model": "himoe", "messages": [{"role": "user", "content": "echo: now"}]}
            ).status_code
            == 200
        )


GATED_PLUGIN = textwrap.dedent('''
    """An expert that answers once a file appears, telling through another file that it started."""
    import os
    from pathlib import Path

    import trio

    from himoe_core import hookimpl

    FOLDER = Path(os.environ["GATE_FOLDER"])


    class Gated:
        name = "gated"

        def can_handle(self, task):
            return task.startswith("gate:")

        async def infer(self, x, ctx):
            (FOLDER / "started").write_text("1")
            while not (FOLDER / "release").exists():
                await trio.sleep(0.01)
            return "released"


    class Huge:
        """Answers with 12 MB: more than loopback's buffers hold for a client that does not read."""

        name = "huge"

        def can_handle(self, task):
            return task.startswith("huge:")

        async def infer(self, x, ctx):
            return "x" * (12 << 20)


    @hookimpl
    def register_experts(register):
        register(Gated())
        register(Huge())
''')


def start_gated_server(tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    """`himoe serve` with the gated expert, a SQLite state and a trace batch no request fills."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "gated_plugin.py").write_text(GATED_PLUGIN)
    state = tmp_path / "state.sqlite3"
    config = tmp_path / "himoe.toml"
    config.write_text(
        f'[himoe]\nbudget_ms = 3600000\nplugins_dir = "{plugins}"\n\n'
        f'[state]\npath = "{state}"\nflush_every = 1000\n\n[serve]\nport = 0\n'
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("HIMOE_")}
    env.update(GATE_FOLDER=str(tmp_path), HIMOE_LOAD_PLUGINS="gated-plugin")
    process = subprocess.Popen(
        [str(HIMOE), "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    return process, state


def test_sigterm_drains_in_flight_requests_flushes_traces_and_exits_0(tmp_path):
    process, state = start_gated_server(tmp_path)
    try:
        url = listening_url(process)
        with httpx.Client(base_url=url, timeout=PATIENCE_S) as http:
            wait_until(lambda: http.get("/readyz").status_code == 200, "the server is ready")
            # the start-up heap is frozen out of full collections (they would stall the event loop)
            [frozen] = [line for line in http.get("/metrics").text.splitlines() if line.startswith("himoe_gc_frozen")]
            assert float(frozen.split()[-1]) > 1000, frozen
            worker, answers = chat_in_background(http, "gate: wait for me")
            wait_until(lambda: (tmp_path / "started").exists(), "the gated expert started")
            process.send_signal(signal.SIGTERM)
            with httpx.Client(base_url=url, timeout=PATIENCE_S) as probe:
                wait_until(lambda: probe.get("/readyz").status_code == 503, "/readyz says draining")
                late = probe.post(
                    "/v1/chat/completions",
                    json={"model": "himoe", "messages": [{"role": "user", "content": "gate: too late"}]},
                )
                assert late.status_code == 503 and late.json()["error"]["code"] == "draining"
            assert process.poll() is None  # still draining: the gated request is in flight
            (tmp_path / "release").write_text("1")
            worker.join(PATIENCE_S)
        [answer] = answers
        assert answer.status_code == 200 and answer.json()["choices"][0]["message"]["content"] == "released"
        trace_id = answer.headers["x-himoe-trace-id"]
        assert process.wait(PATIENCE_S) == 0
        err = process.stderr.read()
        assert "SIGTERM received, draining" in err and "Traceback" not in err
        assert f"trace={trace_id}" in err  # the access log line
        with sqlite3.connect(state) as db:  # flush_every = 1000: written by the shutdown, not by a batch
            assert db.execute("SELECT router FROM traces WHERE trace_id = ?", (trace_id,)).fetchall() == [("default",)]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_second_signal_during_the_drain_cancels_the_requests_writes_their_traces_and_exits_0(tmp_path, signum):
    process, state = start_gated_server(tmp_path)  # the gated expert is never released here
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.extend(process.stderr), daemon=True)
    try:
        url = listening_url(process)
        reader.start()
        with httpx.Client(base_url=url, timeout=PATIENCE_S) as http:
            worker, answers = chat_in_background(http, "gate: never released")
            wait_until(lambda: (tmp_path / "started").exists(), "the gated expert started")
            process.send_signal(signum)
            wait_until(lambda: any("draining, 1 request(s) in flight" in line for line in err), "the drain started")
            process.send_signal(signum)
            worker.join(PATIENCE_S)
        [answer] = answers
        assert answer.status_code == 503 and answer.json()["error"]["code"] == "shutting_down", answer.text
        trace_id = answer.headers["x-himoe-trace-id"]
        assert process.wait(PATIENCE_S) == 0  # not killed by the second signal (-15 or 143 before)
        reader.join(PATIENCE_S)
        log = "".join(err)
        name = signal.Signals(signum).name
        assert f"{name} received again, stopping now: cancelling 1 request(s) in flight" in log, log
        assert "himoe serve: stopped" in log and "Traceback" not in log, log
        with sqlite3.connect(state) as db:  # flush_every = 1000: written by the shutdown, not by a batch
            [(trace,)] = db.execute("SELECT trace FROM traces WHERE trace_id = ?", (trace_id,)).fetchall()
        [call] = json.loads(trace)["attempts"][0]["calls"]
        assert call["expert"] == "gated" and call["status"] == "cancelled"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_third_signal_writes_the_traces_and_exits_even_with_an_answer_nobody_reads(tmp_path):
    process, state = start_gated_server(tmp_path)
    err: list[str] = []
    reader = threading.Thread(target=lambda: err.extend(process.stderr), daemon=True)
    try:
        url = listening_url(process)
        reader.start()
        with open_request(url, "huge: answer", receive_buffer=4096) as client:  # and it never reads
            head = client.recv(4096, socket.MSG_PEEK)  # the answer is being written: its head is here
            assert head.startswith(b"HTTP/1.1 200"), head
            [trace_id] = [h.split(b":")[1].strip().decode() for h in head.split(b"\r\n") if h.startswith(b"x-himoe")]
            for said in ("draining, 1 request(s) in flight", "stopping now: cancelling 1", "exiting now"):
                process.send_signal(signal.SIGTERM)
                wait_until(lambda said=said: any(said in line for line in err), f"the server said {said!r}")
            assert process.wait(PATIENCE_S) == 1
        reader.join(PATIENCE_S)
        log = "".join(err)
        assert "1 request(s) left unanswered; writing the traces" in log and "Traceback" not in log, log
        with sqlite3.connect(state) as db:  # flush_every = 1000: written by the third signal
            assert db.execute("SELECT router FROM traces WHERE trace_id = ?", (trace_id,)).fetchall() == [("default",)]
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
