"""A real HTTP server on 127.0.0.1 (ephemeral port) with scripted behaviours, and helpers.

Routes (POST; the path picks the behaviour, the query tunes it):

- ``/ok``: an OpenAI-style chat completion answering "you said: <last user message>", with
  usage.prompt_tokens = characters of all message contents, completion_tokens = characters of
  the answer; ``/echo-auth``: the same, but the answer also carries the Authorization header.
- ``/slow?ms=N``: the ``/ok`` reply after N ms.
- ``/hang``: never answers; records when the client closes the connection.
- ``/headers-then-hang``: sends 200 headers and part of a body, then hangs the same way.
- ``/status?code=N&retry_after=S``: always that status (body "internal error" or the echoed
  Authorization header for 401), with Retry-After when given.
- ``/fail-then-ok?code=N&times=K&retry_after=S``: that status K times, then ``/ok``.
- ``/drop-then-ok?times=K``: closes the connection without a reply K times, then ``/ok``.
- ``/raw?body=...``: 200 with that exact body (malformed JSON, missing fields, wrong types);
  "{auth}" in it becomes the request's Authorization header (a server that echoes the key).
- ``/big?bytes=N``: 200 with a JSON string of N bytes; ``/big-stream?bytes=N`` the same without
  Content-Length (the body ends when the connection closes).
- ``/classify``: a JSON API: {"label": "positive"|"negative", "score", "received": <request>}.
- ``/embeddings``: an OpenAI-style embeddings API: `embedding(text)` (8 values) per input, listed
  in reverse order with their index; ``/embeddings-short`` the same with 3 values.
- ``/ok`` with ``"logprobs": true`` in the request adds token logprobs (every word at 0.8).

Every request is recorded (path, headers, JSON body, arrival time, client port); disconnects of
hanging requests too. The fixture always shuts the server down.

Timing assertions against this server never use a margin of tens of milliseconds, which a busy
2-core machine breaks: a call "cut at its deadline" ends within ``loopback.cut_within_s``, half
the time a hanging route waits before giving up, and the server's own records (arrival times,
disconnects) show what overlapped and what was closed.
"""

from __future__ import annotations

import json
import math
import select
import socket
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import trio
from himoe_http.base_models.http.httpx_loader import load_ssl_context

from himoe_core import Context, InputData

HANG_LIMIT_S = 10.0
EMBEDDING_DIM = 8


def embedding(text: str) -> list[float]:
    """The loopback service's embedding of a text: deterministic, from its CRC-32."""
    import zlib

    seed = zlib.crc32(text.encode("utf-8"))
    return [((seed >> (3 * i)) % 17) / 16.0 - 0.5 for i in range(EMBEDDING_DIM)]


class LoopbackHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # one reply is two writes (headers, body): no 40 ms Nagle stall

    def log_message(self, format, *args):  # keep test output clean
        pass

    def handle(self):
        try:
            super().handle()
        except (ConnectionResetError, BrokenPipeError):  # the client aborted (e.g. a reply too large)
            pass

    def do_POST(self):
        server = self.server
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        with server.lock:
            server.counts[parts.path] += 1
            count = server.counts[parts.path]
            server.records.append(
                {
                    "path": parts.path,
                    "query": query,
                    "headers": dict(self.headers.items()),
                    "body": body,
                    "time": time.monotonic(),
                    "client_port": self.client_address[1],
                }
            )
        route = parts.path
        if route == "/ok":
            self._chat(body)
        elif route == "/echo-auth":
            self._chat(body, extra=" auth=" + self.headers.get("Authorization", ""))
        elif route == "/slow":
            if self._sleep(float(query.get("ms", "1000")) / 1000.0):
                self._chat(body)
        elif route == "/hang":
            self._wait_for_disconnect(route)
        elif route == "/headers-then-hang":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b'{"choices": [')
            self.wfile.flush()
            self._wait_for_disconnect(route)
        elif route == "/status":
            self._status(int(query["code"]), query.get("retry_after"))
        elif route == "/fail-then-ok":
            if count <= int(query.get("times", "1")):
                self._status(int(query["code"]), query.get("retry_after"))
            else:
                self._chat(body)
        elif route == "/drop-then-ok":
            if count <= int(query.get("times", "1")):
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
            else:
                self._chat(body)
        elif route == "/raw":
            raw_body = query.get("body", "").replace("{auth}", self.headers.get("Authorization", ""))
            self._send(200, raw_body.encode("utf-8"))
        elif route == "/big":
            self._send(200, json.dumps("x" * int(query["bytes"])).encode())
        elif route == "/big-stream":
            # No Content-Length: the body ends when the connection closes.
            try:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(json.dumps("x" * int(query["bytes"])).encode())
            except OSError:
                pass
            self.close_connection = True
        elif route in ("/embeddings", "/embeddings-short"):
            texts = body["input"] if isinstance(body, dict) else []
            size = 3 if route == "/embeddings-short" else EMBEDDING_DIM
            data = [{"object": "embedding", "index": i, "embedding": embedding(t)[:size]} for i, t in enumerate(texts)]
            data.reverse()  # the index, not the order, says which text each belongs to
            self._send(200, json.dumps({"object": "list", "data": data, "model": body.get("model")}).encode())
        elif route == "/classify":
            text = body.get("text", "") if isinstance(body, dict) else ""
            positive = any(word in text.lower() for word in ("love", "great", "good"))
            reply = {
                "label": "positive" if positive else "negative",
                "score": {"value": 0.9 if positive else 0.2},
                "received": body,
                "nothing": None,
            }
            self._send(200, json.dumps(reply).encode())
        else:
            self._send(404, b'{"error": "no such route"}')

    # -- behaviours ------------------------------------------------------------------------------
    def _chat(self, body, extra=""):
        messages = body["messages"]
        answer = f"you said: {messages[-1]['content']}{extra}"
        reply: dict = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "model": body["model"],
            "choices": [{"index": 0, "message": {"role": "assistant", "content": answer}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": sum(len(m["content"]) for m in messages),
                "completion_tokens": len(answer),
                "total_tokens": sum(len(m["content"]) for m in messages) + len(answer),
            },
        }
        if body.get("logprobs"):  # every word at probability 0.8
            reply["choices"][0]["logprobs"] = {
                "content": [{"token": word, "logprob": math.log(0.8)} for word in answer.split()]
            }
        self._send(200, json.dumps(reply).encode())

    def _status(self, code, retry_after):
        if code == 401:
            payload = {"error": "invalid key " + self.headers.get("Authorization", "")}
        else:
            payload = {"error": "internal error"}
        headers = {"Retry-After": retry_after} if retry_after is not None else {}
        self._send(code, json.dumps(payload).encode(), headers)

    def _send(self, code, payload, headers=None):
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
        except OSError:  # the client went away (deadline, cancellation)
            self.close_connection = True

    def _sleep(self, seconds):
        """Sleep unless the server stops; False when it stopped."""
        return not self.server.stopping.wait(seconds)

    def _wait_for_disconnect(self, route):
        started = time.monotonic()
        while time.monotonic() - started < HANG_LIMIT_S and not self.server.stopping.is_set():
            readable, _, _ = select.select([self.connection], [], [], 0.005)
            if readable:
                try:
                    data = self.connection.recv(1, socket.MSG_PEEK)
                except OSError:
                    data = b""
                if data == b"":
                    with self.server.lock:
                        self.server.disconnects.append({"path": route, "time": time.monotonic()})
                    break
        self.close_connection = True


@pytest.fixture
def loopback():
    server = ThreadingHTTPServer(("127.0.0.1", 0), LoopbackHandler)
    server.daemon_threads = True
    server.lock = threading.Lock()
    server.counts = Counter()
    server.records = []
    server.disconnects = []
    server.stopping = threading.Event()
    server.port = server.server_address[1]
    server.target = f"127.0.0.1:{server.port}"
    server.url = lambda path: f"http://127.0.0.1:{server.port}{path}"
    server.embedding = embedding
    server.hang_limit_s = HANG_LIMIT_S
    server.cut_within_s = HANG_LIMIT_S / 2  # far sooner than a hanging route lets go by itself

    def first_of(items, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with server.lock:
                if items:
                    return items[0]
            time.sleep(0.005)
        return None

    # The first request the server got, and the first connection a client closed (None: not in time).
    server.wait_for_request = lambda timeout=HANG_LIMIT_S / 2: first_of(server.records, timeout)
    server.wait_for_disconnect = lambda timeout=HANG_LIMIT_S / 2: first_of(server.disconnects, timeout)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def make_expert():
    """make_expert(name, **table) -> the expert the plugin builds from that config table."""
    from himoe_http import HttpPluginConfig

    def make(name="local_llm", **table):
        experts = HttpPluginConfig.parse({"experts": {name: table}}).build_experts()
        assert len(experts) == 1
        return experts[0]

    return make


@pytest.fixture
def call():
    """call(expert, text, budget_ms, task=None) -> ExpertOut, in a fresh trio run, the context
    started inside it."""

    def run(expert, text, budget_ms, task=None):
        # An expert's first call in a process imports httpx and builds the TLS context: done
        # here, before the budget starts, as that takes most of a 500 ms budget on a busy machine
        load_ssl_context()

        async def main():
            return await expert.infer(InputData.text(text, task=task), Context.start(budget_ms))

        return trio.run(main)

    return run
