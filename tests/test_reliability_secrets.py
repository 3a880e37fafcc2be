"""An API key never leaves the process: the himoe-http plugin's OpenAI expert, driven through HiMoE
and through `himoe run --json`, with a fake key in the environment, against a loopback server that
echoes the Authorization header back in every way it can — and on success and failure alike the
key is in none of: the response JSON, the trace JSON, exception strings and tracebacks, captured
logging (DEBUG, httpx included), the CLI's stdout and stderr, and the state file's bytes.

(The plugin's own tests, plugins/himoe-http/tests/test_http_secrets.py, call the expert directly;
this file checks everything the engine adds around it. The loopback server follows the approach
of plugins/himoe-http/tests/conftest.py.)"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import traceback
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import trio

from himoe_core import HiMoE, MoeError

pytest.importorskip("himoe_http")
pytest.importorskip("httpx")

FAKE_KEY = "sk-FAKE-5e1b7c0a-himoe-must-not-leak-this"
KEY_ENV = "HIMOE_RELIABILITY_TEST_KEY"


def leaks(text: str) -> bool:
    """The key, or a recognisable part of it (10 characters or more), in `text`."""
    return any(FAKE_KEY[i : i + 10] in text for i in range(len(FAKE_KEY) - 9))


class EchoingHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format, *args):
        pass

    def do_POST(self):
        parts = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        auth = self.headers.get("Authorization", "")
        self.server.seen.append(auth)
        if parts.path == "/ok":
            self._chat(body, "")
        elif parts.path == "/echo-auth":  # the answer itself carries the header
            self._chat(body, f" (you sent {auth})")
        elif parts.path == "/status":  # an error whose body quotes the key
            self._send(int(query["code"]), json.dumps({"error": f"invalid key {auth}"}).encode())
        elif parts.path == "/raw":  # a malformed reply quoting the key, possibly deep in padding
            self._send(200, query.get("body", "").replace("{auth}", auth).encode())
        elif parts.path == "/hang":
            self.server.stopping.wait(5)
        else:
            self._send(404, b"{}")

    def _chat(self, body, extra):
        answer = f"you said: {body['messages'][-1]['content']}{extra}"
        self._send(
            200,
            json.dumps(
                {
                    "choices": [{"message": {"role": "assistant", "content": answer}}],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 5},
                }
            ).encode(),
        )

    def _send(self, code, payload):
        try:
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), EchoingHandler)
    httpd.daemon_threads = True
    httpd.seen = []
    httpd.stopping = threading.Event()
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.stopping.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


def config(url: str, state: Path, *, fallback: bool) -> dict:
    experts = ["llm", "backup"] if fallback else ["llm"]
    return {
        # generous: the tests are about where the key goes, and a busy machine makes the first
        # request (httpx imported, a connection opened) take well over a second
        "himoe": {"budget_ms": 30_000},
        "plugins": {
            "himoe-http": {
                "experts": {
                    "llm": {
                        "kind": "openai-chat",
                        "url": url,
                        "model": "m",
                        "tasks": ["chat:"],
                        "api_key_env": KEY_ENV,
                        "max_retries": 1,
                        "backoff_base_ms": 5,
                        "confidence": 0.9,
                    }
                }
            }
        },
        "routers": {"r": {"experts": experts, "k": len(experts), "aggregator": "confidence"}},
        "state": {"path": str(state), "flush_every": 1},
    }


def toml(cfg: dict) -> str:
    """Just enough TOML for `config()`'s shape."""
    llm = cfg["plugins"]["himoe-http"]["experts"]["llm"]
    router = cfg["routers"]["r"]
    lines = ["[himoe]", f"budget_ms = {cfg['himoe']['budget_ms']}", "", "[plugins.himoe-http.experts.llm]"]
    lines += [f"{k} = {json.dumps(v)}" for k, v in llm.items()]
    lines += [
        "",
        "[routers.r]",
        f"experts = {json.dumps(router['experts'])}",
        f"k = {router['k']}",
        f"aggregator = {json.dumps(router['aggregator'])}",
        "",
        "[state]",
        f"path = {json.dumps(cfg['state']['path'])}",
        "flush_every = 1",
        "",
    ]
    return "\n".join(lines)


PATHS = {
    "ok": "/ok",
    "echo-auth": "/echo-auth",
    "401 quoting the key": "/status?code=401",
    "500 quoting the key (retried)": "/status?code=500",
    "malformed reply quoting the key": "/raw?body=" + quote("not json {auth}"),
    "malformed reply, key cut by the snippet": "/raw?body=" + quote(" " * 220 + "{auth}"),
    "reply too short to parse, key inside": "/raw?body=" + quote('{"choices": [{"message": {"content": ["{auth}"]}}]}'),
    "hangs past the deadline": "/hang",
}
FAILING = {name for name in PATHS if name not in ("ok", "echo-auth")}


def state_bytes(state: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(state.parent.glob(state.name + "*")))


@pytest.mark.parametrize("fallback", [False, True], ids=["alone", "with-a-healthy-expert"])
@pytest.mark.parametrize("case", list(PATHS))
def test_the_key_never_leaves_through_himoe(server, tmp_path, monkeypatch, caplog, case, fallback):
    from himoe_core.testing import ConstantExpert

    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv(KEY_ENV, FAKE_KEY)
    state = tmp_path / "state.sqlite3"
    url = f"http://127.0.0.1:{server.server_address[1]}{PATHS[case]}"
    experts = [ConstantExpert("backup", value="backup answer", confidence=0.1)] if fallback else []
    moe = HiMoE(
        config=config(url, state, fallback=fallback),
        experts=experts,
        entry_points=True,
        environ={"HIMOE_LOAD_PLUGINS": "himoe-http"},
    )
    texts = []
    try:
        try:
            response = trio.run(moe.run, "chat: hello")
        except MoeError as exc:
            assert case in FAILING and not fallback, f"{type(exc).__name__}: {exc}"
            texts += [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
            trace = moe.traces.recent(1)[0]
        else:
            assert case not in FAILING or fallback
            texts.append(json.dumps(response.to_jsonable()))
            if case in FAILING:
                assert response.value.as_text() == "backup answer"
            elif case == "echo-auth":
                assert "Bearer ***" in response.value.as_text()
            trace = moe.traces.get(response.trace_id)
        texts.append(json.dumps(trace))
    finally:
        moe.close()
    assert server.seen and all(seen == f"Bearer {FAKE_KEY}" for seen in server.seen), "the key was really sent"
    texts.append(caplog.text)
    texts += [record.getMessage() for record in caplog.records]
    for text in texts:
        assert not leaks(text), text[:2000]
    stored = state_bytes(state)
    assert b"chat: hello" in stored, "the trace reached the state file"
    assert FAKE_KEY.encode() not in stored and FAKE_KEY[8:24].encode() not in stored


@pytest.mark.parametrize("case", ["echo-auth", "401 quoting the key", "malformed reply, key cut by the snippet"])
def test_the_key_never_leaves_through_the_cli(server, tmp_path, case):
    state = tmp_path / "state.sqlite3"
    url = f"http://127.0.0.1:{server.server_address[1]}{PATHS[case]}"
    config_file = tmp_path / "himoe.toml"
    config_file.write_text(toml(config(url, state, fallback=False)))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HIMOE_")}
    env.update({KEY_ENV: FAKE_KEY, "HIMOE_LOAD_PLUGINS": "himoe-http", "HIMOE_STATE": str(state)})
    outputs = []
    for flags in (["--json"], ["--explain", "--debug"]):
        args = [
            sys.executable,
            "-m",
            "himoe_core",
            *(["--debug"] if "--debug" in flags else []),
            "run",
            "chat: hello",
            "--config",
            str(config_file),
            *[f for f in flags if f != "--debug"],
        ]
        proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=300)
        outputs += [proc.stdout, proc.stderr]
        if case in FAILING:
            assert proc.returncode == 1 and proc.stderr.strip(), proc.stderr
            if "--debug" not in flags:
                assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("himoe: error:")
        else:
            assert proc.returncode == 0, proc.stderr
            if flags == ["--json"]:
                assert json.loads(proc.stdout)["value"]["data"].endswith("(you sent Bearer ***)")
    for text in outputs:
        assert not leaks(text), text[:2000]
    assert FAKE_KEY.encode() not in state_bytes(state)
