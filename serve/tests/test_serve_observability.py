"""Access log lines and OpenTelemetry spans of `himoe serve`."""

from __future__ import annotations

import logging
import time

from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from himoe_core.testing import EchoExpert, FailingExpert


def test_one_access_log_line_per_request_with_the_trace_id_and_no_body_or_key(server_factory, caplog):
    server = server_factory(experts=(EchoExpert("echo", prefix="echo:"),), keys="sk-secret-key-123")
    caplog.set_level(logging.INFO, logger="himoe.serve.access")
    with server.client(key="sk-secret-key-123") as http:
        reply = http.post(
            "/v1/chat/completions",
            json={"model": "himoe", "messages": [{"role": "user", "content": "echo: a private sentence"}]},
        )
        http.get("/healthz")
    with server.client(key="sk-wrong-key-456") as http:
        http.get("/v1/models")

    def access_lines():
        return [r.getMessage() for r in caplog.records if r.name == "himoe.serve.access"]

    deadline = time.monotonic() + 60.0  # a line is logged just after its response is sent
    while len(access_lines()) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    lines = access_lines()
    trace_id = reply.headers["x-himoe-trace-id"]
    assert len(lines) == 3, lines
    assert lines[0].startswith("POST /v1/chat/completions 200 ") and f"trace={trace_id}" in lines[0]
    assert "router=default" in lines[0]
    assert lines[1].startswith("GET /healthz 200 ") and lines[2].startswith("GET /v1/models 401 ")
    everything = "\n".join(r.getMessage() for r in caplog.records)
    assert "private sentence" not in everything and "sk-" not in everything


def test_spans_per_request_and_per_expert_call(server_factory):
    exporter = InMemorySpanExporter()
    server = server_factory(
        experts=(EchoExpert("echo", prefix="echo:"), FailingExpert("broken", prefix="echo:")),
        config={"routers": {"both": {"experts": ["*"], "k": 2, "aggregator": "confidence"}}},
        otel=True,
        span_exporter=exporter,
    )
    with server.client() as http:
        reply = http.post(
            "/v1/chat/completions", json={"model": "himoe", "messages": [{"role": "user", "content": "echo: traced"}]}
        )
        assert reply.status_code == 200
    deadline = time.monotonic() + 60.0  # the request's span ends just after its response is sent
    while len(exporter.get_finished_spans()) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    spans = exporter.get_finished_spans()
    [request] = [s for s in spans if s.name == "POST /v1/chat/completions"]
    assert request.attributes["himoe.trace_id"] == reply.headers["x-himoe-trace-id"]
    assert request.attributes["himoe.router"] == "both"
    assert request.attributes["http.response.status_code"] == 200
    calls = {s.name: s for s in spans if s.parent is not None}
    assert set(calls) == {"expert echo", "expert broken"}
    for span in calls.values():
        assert span.parent.span_id == request.context.span_id
        assert span.context.trace_id == request.context.trace_id
    assert calls["expert echo"].attributes["himoe.call.status"] == "ok"
    assert calls["expert broken"].attributes["himoe.call.status"] == "failed"
    assert not calls["expert broken"].status.is_ok
    assert all("traced" not in str(dict(s.attributes)) for s in spans)  # no request text in spans


def test_route_and_feedback_requests_have_spans_too(server_factory):
    exporter = InMemorySpanExporter()
    server = server_factory(experts=(EchoExpert("echo", prefix="echo:"),), otel=True, span_exporter=exporter)
    with server.client() as http:
        ask = {"model": "himoe", "messages": [{"role": "user", "content": "echo: which"}]}
        trace_id = http.post("/v1/route", json=ask).json()["trace_id"]
        assert http.post("/v1/feedback", json={"trace_id": trace_id, "reward": 1.0}).status_code == 200
        assert http.post("/v1/feedback", json={"trace_id": "f" * 16, "reward": 1.0}).status_code == 404
        http.get("/healthz")
    deadline = time.monotonic() + 60.0  # a span ends just after its response is sent
    while len(exporter.get_finished_spans()) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    spans = exporter.get_finished_spans()
    assert [s.name for s in spans] == ["POST /v1/route", "POST /v1/feedback", "POST /v1/feedback"]
    route, learned, unknown = spans
    assert route.attributes["himoe.trace_id"] == trace_id == learned.attributes["himoe.trace_id"]
    assert route.attributes["himoe.router"] == learned.attributes["himoe.router"] == "default"
    assert learned.attributes["http.response.status_code"] == 200 and learned.status.is_ok
    assert unknown.attributes["http.response.status_code"] == 404 and not unknown.status.is_ok
