"""A streaming HTTP expert is passed through chunk by chunk: a real loopback upstream that
sends server-sent events, himoe-http's OpenAI chat expert, `himoe serve`, the openai client."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import openai
import pytest

PIECES = ["Hel", "lo", " world"]
PATIENCE_S = 60.0


class StreamingUpstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        pass

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.bodies.append(body)
        if not body.get("stream"):
            reply = json.dumps({"choices": [{"message": {"role": "assistant", "content": "".join(PIECES)}}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        for index, piece in enumerate(PIECES):
            self._event({"choices": [{"index": 0, "delta": {"content": piece}}]})
            if index == 0:  # the rest only once the client has the first piece: proof it was not buffered
                self.server.released.append(self.server.first_piece_seen.wait(PATIENCE_S))
        self._event({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}})
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True

    def _event(self, data):
        self.wfile.write(b"data: " + json.dumps(data).encode() + b"\n\n")
        self.wfile.flush()


@pytest.fixture
def upstream():
    server = ThreadingHTTPServer(("127.0.0.1", 0), StreamingUpstream)
    server.daemon_threads = True
    server.bodies, server.released, server.first_piece_seen = [], [], threading.Event()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.first_piece_seen.set()
    server.shutdown()
    server.server_close()


def test_a_streaming_http_expert_is_passed_through_chunk_by_chunk(server_factory, upstream):
    config = {
        "himoe": {"budget_ms": 120_000},
        "plugins": {
            "himoe-http": {
                "experts": {
                    "local_llm": {
                        "kind": "openai-chat",
                        "url": f"http://127.0.0.1:{upstream.server_port}/v1/chat/completions",
                        "model": "upstream-model",
                        "tasks": ["chat:"],
                    }
                }
            }
        },
    }
    server = server_factory(entry_points=True, environ={"HIMOE_LOAD_PLUGINS": "himoe-http"}, config=config)
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0, timeout=120.0)
    pieces, chunks = [], []
    with client.chat.completions.with_streaming_response.create(
        model="himoe", stream=True, max_tokens=5, messages=[{"role": "user", "content": "chat: hi"}]
    ) as raw:
        trace_id = raw.headers["x-himoe-trace-id"]
        for chunk in raw.parse():
            chunks.append(chunk)
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
                upstream.first_piece_seen.set()
    assert upstream.released == [True], "the upstream's first piece did not reach the client before the rest"
    assert pieces == PIECES  # one chunk per upstream event, in order
    assert chunks[0].choices[0].delta.role == "assistant" and chunks[0].model_extra["himoe"]["trace_id"] == trace_id
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].model == "local_llm"
    himoe = chunks[-1].model_extra["himoe"]
    assert himoe["value"]["data"] == "Hello world" and himoe["experts"][0]["name"] == "local_llm"
    [body] = upstream.bodies
    assert body["stream"] is True and body["max_tokens"] == 5 and body["messages"][-1]["content"] == "hi"
    # Without stream, the same expert asks for one JSON reply.
    completion = client.chat.completions.create(model="himoe", messages=[{"role": "user", "content": "chat: hi"}])
    assert completion.choices[0].message.content == "Hello world" and "stream" not in upstream.bodies[-1]
