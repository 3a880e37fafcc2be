"""The API of `himoe serve`, through a real hypercorn server on loopback, with the official
`openai` client and with httpx."""

from __future__ import annotations

import json
import time

import openai
import pytest

from himoe_core import Context, ExpertAux, ExpertOut, Value
from himoe_core.testing import EchoExpert, FailingExpert

FIRST_PARTY = {"HIMOE_LOAD_PLUGINS": "himoe-math,himoe-planning"}
# The math worker's first start and the plugins' first imports: a budget no busy machine exhausts.
GENEROUS = {"himoe": {"budget_ms": 120_000}}


@pytest.fixture
def first_party(server_factory):
    return server_factory(entry_points=True, environ=FIRST_PARTY, config=GENEROUS)


def metrics_with(http, *lines: str) -> str:
    """/metrics once it shows every line: a request is counted just after its response is sent."""
    deadline = time.monotonic() + 60.0
    while True:
        text = http.get("/metrics").text
        if all(line in text for line in lines) or time.monotonic() > deadline:
            return text
        time.sleep(0.01)


def openai_client(server, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url + "/v1", api_key=key, max_retries=0, timeout=120.0)


def test_a_math_request_is_answered_with_its_trace_id(first_party):
    raw = openai_client(first_party).chat.completions.with_raw_response.create(
        model="himoe", messages=[{"role": "user", "content": "math: solve x**2 - 4 = 0"}]
    )
    completion = raw.parse()
    trace_id = raw.headers["x-himoe-trace-id"]
    assert len(trace_id) == 16 and int(trace_id, 16) >= 0
    assert completion.object == "chat.completion"
    assert completion.model == "math_sympy"  # the expert that answered
    assert "[-2, 2]" in completion.choices[0].message.content
    assert completion.choices[0].finish_reason == "stop"
    himoe = completion.model_extra["himoe"]
    assert himoe["trace_id"] == trace_id and himoe["router"] == "default"
    assert [e["name"] for e in himoe["experts"]] == ["math_sympy"] and himoe["experts"][0]["status"] == "ok"
    assert himoe["value"]["data"]["solutions"] == ["-2", "2"]
    assert himoe["latency_ms"] > 0 and himoe["cost_units"] >= 0


def test_the_same_request_with_httpx(first_party):
    with first_party.client() as http:
        reply = http.post(
            "/v1/chat/completions",
            json={
                "model": "himoe/default",
                "messages": [
                    {"role": "system", "content": "be exact"},
                    {"role": "user", "content": "math: solve x**2 - 4 = 0"},
                ],
            },
        )
    assert reply.status_code == 200
    body = reply.json()
    assert body["himoe"]["trace_id"] == reply.headers["x-himoe-trace-id"] == body["id"].removeprefix("chatcmpl-")
    assert json.loads(body["choices"][0]["message"]["content"])["result"] == "[-2, 2]"


def test_a_plan_is_streamed_as_chunks_ending_with_done(first_party):
    client = openai_client(first_party)
    with client.chat.completions.with_streaming_response.create(
        model="himoe",
        stream=True,
        messages=[{"role": "user", "content": "plan: write the tests, then ship the release"}],
    ) as raw:
        trace_id = raw.headers["x-himoe-trace-id"]
        assert raw.headers["content-type"].startswith("text/event-stream")
        chunks = list(raw.parse())
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[0].model_extra["himoe"]["trace_id"] == trace_id
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert "write the tests" in text and "ship the release" in text
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert chunks[-1].model == "rule_planner" and chunks[-1].model_extra["himoe"]["router"] == "default"
    with first_party.client() as http:  # the wire format: SSE events, the last one [DONE]
        reply = http.post(
            "/v1/chat/completions",
            json={"model": "himoe", "stream": True, "messages": [{"role": "user", "content": "plan: a, then b"}]},
        )
    events = [line for line in reply.text.split("\n\n") if line]
    assert all(e.startswith("data: ") for e in events) and events[-1] == "data: [DONE]"


def test_a_wrong_key_is_refused_with_401_and_an_unknown_model_with_404(server_factory):
    server = server_factory(experts=(EchoExpert("echo"),), keys="sk-right-1,sk-right-2")
    with pytest.raises(openai.AuthenticationError) as refused:
        openai_client(server, key="sk-wrong").chat.completions.create(
            model="himoe", messages=[{"role": "user", "content": "hello"}]
        )
    assert refused.value.status_code == 401 and refused.value.code == "invalid_api_key"
    with server.client() as anonymous:
        assert anonymous.get("/v1/models").status_code == 401
        assert anonymous.get("/healthz").status_code == 200  # probes carry no key
    good = openai_client(server, key="sk-right-2")
    assert (
        good.chat.completions.create(model="himoe", messages=[{"role": "user", "content": "hi"}])
        .choices[0]
        .message.content
        == "echo: hi"
    )
    with pytest.raises(openai.NotFoundError) as unknown:
        good.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert unknown.value.code == "model_not_found" and "himoe/default" in unknown.value.message
    with pytest.raises(openai.NotFoundError):
        good.chat.completions.create(model="himoe/nope", messages=[{"role": "user", "content": "hi"}])
    assert [m.id for m in good.models.list()] == ["himoe", "himoe/default"]
    with server.client(key="sk-right-1") as http:  # every chat request is counted, the refused too
        metrics = metrics_with(http, 'himoe_requests_total{router="-",status="404"} 2.0')
    assert 'himoe_requests_total{router="-",status="401"} 1.0' in metrics
    assert 'himoe_requests_total{router="-",status="404"} 2.0' in metrics
    assert 'himoe_requests_total{router="default",status="200"} 1.0' in metrics


def test_a_request_nobody_handles_is_a_4xx_never_a_5xx(server_factory):
    server = server_factory(experts=(EchoExpert("echo", prefix="echo:"), FailingExpert("broken", prefix="broken:")))
    client = openai_client(server)
    with pytest.raises(openai.UnprocessableEntityError) as nobody:
        client.chat.completions.create(model="himoe", messages=[{"role": "user", "content": "no prefix"}])
    assert nobody.value.code == "no_expert" and "no expert" in nobody.value.message
    with server.client() as http:
        for body in [
            {"model": "himoe", "messages": [{"role": "user", "content": "broken: x"}]},
            {"model": "himoe", "messages": [{"role": "user", "content": "   "}]},
            {"model": "himoe", "messages": []},
            {"model": "himoe", "messages": [{"role": "assistant", "content": "no user"}]},
            {"model": "himoe", "messages": [{"role": "user", "content": "echo: x"}], "max_tokens": -1},
            {"model": "himoe", "messages": [{"role": "user", "content": "echo: x"}], "bogus": 1},
            {"messages": [{"role": "user", "content": "echo: x"}]},
            [1, 2],
        ]:
            reply = http.post("/v1/chat/completions", json=body)
            assert 400 <= reply.status_code < 500, (body, reply.status_code, reply.text)
            error = reply.json()["error"]
            assert set(error) >= {"message", "type", "code"} and error["message"], body
            assert "Traceback" not in reply.text
        assert http.post("/v1/chat/completions", content=b"{not json").status_code == 400
        assert http.get("/v1/chat/completions").status_code == 405
        assert http.get("/v1/nowhere").json()["error"]["code"] == "not_found"


def test_feedback_is_accepted_for_a_real_trace_and_404_for_an_unknown_one(server_factory):
    server = server_factory(experts=(EchoExpert("echo"),))
    raw = openai_client(server).chat.completions.with_raw_response.create(
        model="himoe", messages=[{"role": "user", "content": "hello"}]
    )
    trace_id = raw.headers["x-himoe-trace-id"]
    with server.client() as http:
        first = http.post("/v1/feedback", json={"trace_id": trace_id, "reward": 1.0})
        assert first.status_code == 200 and first.json()["status"] == "learned"
        assert first.json()["router"] == "default"
        again = http.post("/v1/feedback", json={"trace_id": trace_id, "reward": 1.0})
        assert again.status_code == 200 and again.json()["status"] == "repeat"
        conflicting = http.post("/v1/feedback", json={"trace_id": trace_id, "reward": 0.0})
        assert conflicting.status_code == 400 and "already has feedback" in conflicting.json()["error"]["message"]
        unknown = http.post("/v1/feedback", json={"trace_id": "0123456789abcdef", "reward": 1.0})
        assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "trace_not_found"
        for bad in [
            {"reward": 1},
            {"trace_id": trace_id},
            {"trace_id": trace_id, "reward": "good"},
            {"trace_id": trace_id, "reward": 1, "task_loss": 1},  # reward + task_loss must sum to 1
            {"trace_id": trace_id, "reward": 1, "extra": 2},
            "text",
        ]:
            reply = http.post("/v1/feedback", json=bad)
            assert reply.status_code == 400, (bad, reply.text)
        metrics = metrics_with(http, 'himoe_feedback_total{outcome="unknown_trace"} 1.0')
    assert 'himoe_feedback_total{outcome="learned"} 1.0' in metrics
    assert 'himoe_feedback_total{outcome="repeat"} 1.0' in metrics
    assert 'himoe_feedback_total{outcome="unknown_trace"} 1.0' in metrics


def test_metrics_count_requests_by_router_and_status(server_factory):
    server = server_factory(experts=(EchoExpert("echo", prefix="echo:"),))
    with server.client() as http:
        for text in ("echo: a", "echo: b", "nobody"):
            http.post("/v1/chat/completions", json={"model": "himoe", "messages": [{"role": "user", "content": text}]})
        reply = http.get("/metrics")
        metrics = metrics_with(http, 'himoe_requests_total{router="default",status="422"} 1.0')
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/plain")
    assert 'himoe_requests_total{router="default",status="200"} 2.0' in metrics
    assert 'himoe_requests_total{router="default",status="422"} 1.0' in metrics
    assert 'himoe_expert_calls_total{expert="echo",status="ok"} 2.0' in metrics
    assert 'himoe_request_duration_seconds_count{router="default"} 3.0' in metrics
    assert 'himoe_expert_duration_seconds_count{expert="echo"} 2.0' in metrics
    assert "himoe_requests_in_flight 0.0" in metrics


def test_a_body_over_the_limit_is_413(server_factory):
    server = server_factory(experts=(EchoExpert("echo"),), max_body_bytes=200)
    with server.client() as http:
        reply = http.post(
            "/v1/chat/completions", json={"model": "himoe", "messages": [{"role": "user", "content": "x" * 500}]}
        )
        assert reply.status_code == 413 and reply.json()["error"]["code"] == "body_too_large"
        chunked = http.post("/v1/chat/completions", content=iter([b'{"model": "himoe", ', b" " * 300, b"}"]))
        assert chunked.status_code == 413


class OptionsExpert:
    """Answers with the options it was given."""

    name = "options_probe"

    def can_handle(self, task):
        return True

    async def infer(self, x, ctx: Context):
        options = dict(ctx.options.items())
        return ExpertOut(Value.json(options), ExpertAux(confidence=1.0))


def test_generation_settings_and_history_reach_the_experts_as_context_options(server_factory):
    server = server_factory(experts=(OptionsExpert(),))
    completion = openai_client(server).chat.completions.create(
        model="himoe",
        max_tokens=12,
        temperature=0.25,
        stop=["\n"],
        messages=[
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "one"},
            {"role": "user", "content": "second"},
        ],
    )
    options = completion.model_extra["himoe"]["value"]["data"]
    assert options == {
        "max_tokens": 12,
        "temperature": 0.25,
        "stop": ["\n"],
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "one"},
        ],
    }


def test_max_completion_tokens_reaches_the_experts_as_max_tokens(server_factory):
    server = server_factory(experts=(OptionsExpert(),))
    with server.client() as http:
        ask = {"model": "himoe", "messages": [{"role": "user", "content": "hi"}]}
        reply = http.post("/v1/chat/completions", json={**ask, "max_completion_tokens": 9})
        assert reply.json()["himoe"]["value"]["data"] == {"max_tokens": 9}
        same = http.post("/v1/chat/completions", json={**ask, "max_completion_tokens": 9, "max_tokens": 9})
        assert same.json()["himoe"]["value"]["data"] == {"max_tokens": 9}
        clash = http.post("/v1/chat/completions", json={**ask, "max_completion_tokens": 9, "max_tokens": 5})
        assert clash.status_code == 400 and "disagree" in clash.json()["error"]["message"]
        bad = http.post("/v1/chat/completions", json={**ask, "max_completion_tokens": 0})
        assert bad.status_code == 400 and bad.json()["error"]["code"] == "invalid_parameter"


def test_route_decides_without_calling_and_its_decision_takes_feedback(server_factory):
    from himoe_core.testing import ConstantExpert

    first, second = ConstantExpert("first"), ConstantExpert("second")
    server = server_factory(experts=(first, second))
    with server.client() as http:
        reply = http.post(
            "/v1/route", json={"model": "himoe", "messages": [{"role": "user", "content": "hello"}], "himoe": {"k": 2}}
        )
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert body["object"] == "himoe.route" and body["router"] == "default"
        assert reply.headers["x-himoe-trace-id"] == body["trace_id"]
        assert sorted(pick["expert"] for pick in body["picks"]) == ["first", "second"]
        assert body["picks"][0]["propensity"] == 1.0 and body["picks"][1]["propensity"] is None
        assert {entry["expert"] for entry in body["gate"]} == {"first", "second"}
        assert abs(sum(entry["prob"] for entry in body["gate"]) - 1.0) < 1e-6
        assert first.calls == 0 and second.calls == 0  # no expert was called
        learned = http.post("/v1/feedback", json={"trace_id": body["trace_id"], "reward": 1.0})
        assert learned.status_code == 200 and learned.json()["status"] == "learned"
        unknown_router = http.post(
            "/v1/route", json={"model": "himoe/nope", "messages": [{"role": "user", "content": "hello"}]}
        )
        assert unknown_router.status_code == 404
        nobody = http.post("/v1/route", json={"model": "himoe", "messages": [{"role": "user", "content": ""}]})
        assert 400 <= nobody.status_code < 500


def test_the_request_context_reaches_routing_and_the_decision(server_factory):
    from himoe_core.testing import ConstantExpert

    server = server_factory(experts=(ConstantExpert("first"),))
    with server.client() as http:
        body = {
            "model": "himoe",
            "messages": [{"role": "user", "content": "hello"}],
            "himoe": {"context": {"tenant": "acme", "priority": 2}},
        }
        routed = http.post("/v1/route", json=body)
        assert routed.status_code == 200, routed.text
        trace = server.moe.traces.get(routed.json()["trace_id"])
        assert trace["context"] == {"priority": 2.0, "tenant": "acme"}
        answered = http.post("/v1/chat/completions", json=body)
        assert answered.status_code == 200, answered.text
        trace = server.moe.traces.get(answered.headers["x-himoe-trace-id"])
        assert trace["context"] == {"priority": 2.0, "tenant": "acme"}
        for context, code in (("acme", "invalid_context"), ({"n": [1]}, "invalid_input")):
            refused = http.post("/v1/chat/completions", json={**body, "himoe": {"context": context}})
            assert refused.status_code == 400 and refused.json()["error"]["code"] == code, refused.text
