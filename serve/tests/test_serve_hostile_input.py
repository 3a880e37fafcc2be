"""What a client can send that is not a request, and what the log and the metrics then say: a
path or trace id that would forge an access log line, JSON nested past Python's recursion
limit, a request cut at its deadline, errors whose text is the server's own."""

from __future__ import annotations

import logging
import time

import pytest

from himoe_core.testing import EchoExpert, FailingExpert, HangingExpert

PATIENCE_S = 60.0  # caps on waits for a busy machine; never a margin a test depends on


def access_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "himoe.serve.access"]


def wait_for_lines(caplog, count: int) -> list[str]:
    deadline = time.monotonic() + PATIENCE_S  # a line is logged just after its response is sent
    while len(access_lines(caplog)) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return access_lines(caplog)


def test_a_path_or_trace_id_with_a_newline_cannot_forge_an_access_log_line(server_factory, caplog):
    server = server_factory(experts=(EchoExpert("echo", prefix="echo:"),))
    caplog.set_level(logging.INFO, logger="himoe.serve.access")
    forged = "\nPOST /v1/feedback 200 1.0ms trace=forged router=x"
    with server.client() as http:
        assert http.get("/x" + forged.replace("\n", "%0A").replace(" ", "%20")).status_code == 404
        reply = http.post("/v1/feedback", json={"trace_id": "abc" + forged, "reward": 1.0})
    assert reply.status_code == 404
    assert reply.json()["error"]["code"] == "trace_not_found"  # OpenAI's shape, not a bare 500
    assert "x-himoe-trace-id" not in reply.headers  # a header cannot carry a newline
    lines = wait_for_lines(caplog, 2)
    assert len(lines) == 2, lines
    assert all("\n" not in line for line in lines)
    assert lines[0].startswith("GET /x\\nPOST") and lines[0].endswith("trace=- router=-")
    assert lines[1].startswith("POST /v1/feedback 404 ") and "trace=abc\\nPOST" in lines[1]


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/feedback", "/v1/route"])
def test_json_nested_past_the_recursion_limit_is_a_400(server_factory, path):
    server = server_factory(experts=(EchoExpert("echo", prefix="echo:"),))
    with server.client() as http:
        reply = http.post(path, content="[" * 100_000 + "]" * 100_000, headers={"content-type": "application/json"})
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "invalid_json"
    assert "too deeply" in reply.json()["error"]["message"]


def test_a_request_cut_at_its_deadline_is_counted_under_the_router_that_took_it(server_factory, caplog):
    server = server_factory(experts=(HangingExpert("hanging", prefix="hang:"),))
    caplog.set_level(logging.INFO, logger="himoe.serve.access")
    with server.client() as http:
        reply = http.post(
            "/v1/chat/completions",
            json={"model": "himoe", "messages": [{"role": "user", "content": "hang: on"}], "himoe": {"budget_ms": 50}},
        )
        assert reply.status_code == 504
        deadline = time.monotonic() + PATIENCE_S
        while 'router="default",status="504"' not in http.get("/metrics").text and time.monotonic() < deadline:
            time.sleep(0.01)
        metrics = http.get("/metrics").text
    assert 'himoe_requests_total{router="default",status="504"} 1.0' in metrics
    [line] = [line for line in wait_for_lines(caplog, 1) if line.startswith("POST")]
    assert line.startswith("POST /v1/chat/completions 504 ") and line.endswith("router=default")


def test_an_expert_error_reaches_the_log_but_only_its_status_reaches_the_client(server_factory, caplog):
    server = server_factory(experts=(FailingExpert("broken", prefix="broken:"),))
    caplog.set_level(logging.WARNING, logger="himoe.serve")
    with server.client() as http:
        reply = http.post(
            "/v1/chat/completions", json={"model": "himoe", "messages": [{"role": "user", "content": "broken: x"}]}
        )
    assert reply.status_code == 422 and reply.json()["error"]["code"] == "no_expert"
    message = reply.json()["error"]["message"]
    assert "[broken: failed]" in message and "the server's log has each error" in message
    assert "injected failure" not in reply.text  # the exception's own text
    logged = [r.getMessage() for r in caplog.records if r.name == "himoe.serve"]
    assert any(reply.headers["x-himoe-trace-id"] in m and "RuntimeError: injected failure" in m for m in logged)


class UpstreamDown:
    """Fails as an HTTP expert does when its endpoint is down: the error names the address."""

    name = "upstream"

    def can_handle(self, task):
        return True

    async def infer(self, x, ctx):
        raise ConnectionError("connection to 10.1.2.3:8443 failed (ConnectError)")


def test_a_deadline_body_names_no_expert_error_either(server_factory, caplog):
    server = server_factory(
        experts=(UpstreamDown(), HangingExpert("hanging")), config={"routers": {"both": {"experts": ["*"], "k": 2}}}
    )
    caplog.set_level(logging.WARNING, logger="himoe.serve")
    with server.client() as http:
        ask = {"model": "himoe", "messages": [{"role": "user", "content": "x"}], "himoe": {"budget_ms": 100}}
        reply = http.post("/v1/chat/completions", json=ask)
    assert reply.status_code == 504 and reply.json()["error"]["code"] == "deadline_exceeded"
    assert "100 ms budget" in reply.json()["error"]["message"] and "10.1.2.3" not in reply.text
    assert any("10.1.2.3:8443" in r.getMessage() for r in caplog.records if r.name == "himoe.serve")


def test_a_failing_expert_s_address_stays_in_the_log(server_factory, caplog):
    server = server_factory(experts=(UpstreamDown(),))
    caplog.set_level(logging.WARNING, logger="himoe.serve")
    with server.client() as http:
        reply = http.post(
            "/v1/chat/completions", json={"model": "himoe", "messages": [{"role": "user", "content": "x"}]}
        )
    assert reply.status_code == 422 and "[upstream: failed]" in reply.json()["error"]["message"]
    assert "10.1.2.3" not in reply.text
    assert any("10.1.2.3:8443" in r.getMessage() for r in caplog.records if r.name == "himoe.serve")


def test_a_lone_surrogate_echoed_in_an_error_is_escaped_not_a_500(server_factory):
    server = server_factory(experts=(EchoExpert("echo"),))
    with server.client() as http:
        trace_id = http.post(
            "/v1/chat/completions", json={"model": "himoe", "messages": [{"role": "user", "content": "hi"}]}
        ).headers["x-himoe-trace-id"]
        reply = http.post(
            "/v1/feedback",
            content=b'{"trace_id": "%s", "reward": 1, "scores": {"\\ud800": 1}}' % trace_id.encode(),
            headers={"content-type": "application/json"},
        )
    assert reply.status_code == 400, reply.text
    assert "\\ud800" in reply.text  # JSON's own escape of what cannot be UTF-8


def test_a_space_in_the_path_cannot_forge_the_fields_of_an_access_log_line(server_factory, caplog):
    server = server_factory(experts=(EchoExpert("echo"),))
    caplog.set_level(logging.INFO, logger="himoe.serve.access")
    with server.client() as http:
        assert http.get("/v1/models%20200%200.1ms%20trace=forged%20router=default").status_code == 404
    [line] = wait_for_lines(caplog, 1)
    assert line.startswith("GET /v1/models\\x20200\\x200.1ms\\x20trace=forged\\x20router=default 404 "), line


def test_readyz_shows_a_store_error_only_to_a_caller_with_a_key(server_factory, monkeypatch):
    server = server_factory(experts=(EchoExpert("echo"),), keys="sk-right-1")
    down = {"state_store": "down", "error": "cannot reach state store 'postgresql://db.internal:5432/himoe'"}
    monkeypatch.setattr(server.moe, "model_status", lambda: down)
    with server.client() as anonymous:  # a load balancer's probe carries no key
        probe = anonymous.get("/readyz")
    assert probe.status_code == 200 and probe.json()["state_store"] == "down"
    assert "db.internal" not in probe.text and probe.json()["error"] == "see the server's log"
    with server.client(key="sk-right-1") as operator:
        assert operator.get("/readyz").json()["error"] == down["error"]
