"""JsonHttpExpert against a real loopback HTTP server."""

from __future__ import annotations

import time

import pytest

from himoe_core import ExpertFailed, Value, ValueKind

ROOMY_MS = 10_000  # for calls checked for what they answer, not when: a budget no busy machine uses up


def sentiment(loopback, make_expert, **overrides):
    table = {
        "kind": "json",
        "url": loopback.url("/classify"),
        "tasks": ["sentiment:"],
        "request_template": {"text": "{text}"},
        "response_path": "label",
        "headers": {"X-Client": "himoe"},
        "cost_units": 0.2,
        **overrides,
    }
    return make_expert("sentiment_api", **table)


def test_http_json_renders_the_template_and_reads_the_response_path(loopback, make_expert, call):
    expert = sentiment(loopback, make_expert)
    out = call(expert, "sentiment: I love this phone", ROOMY_MS)
    assert out.value == Value.text("positive")
    assert out.aux.cost_units == 0.2 and out.aux.confidence == 0.5
    out = call(expert, "sentiment: this is awful", ROOMY_MS)
    assert out.value.as_text() == "negative"
    first = loopback.records[0]
    assert first["body"] == {"text": "I love this phone"}
    assert first["headers"]["X-Client"] == "himoe"
    assert first["headers"]["Content-Type"] == "application/json"


def test_http_json_nested_template_and_task_placeholder(loopback, make_expert, call):
    template = {
        "input": {"text": "{text}", "lang": "en", "tags": ["{task}", "fixed"], "n": 3, "strict": True},
        "note": "task={task}; text={text}",
    }
    expert = sentiment(loopback, make_expert, request_template=template, response_path="received")
    out = call(expert, "sentiment: good {task} stuff", ROOMY_MS)
    expected = {
        "input": {"text": "good {task} stuff", "lang": "en", "tags": ["sentiment:", "fixed"], "n": 3, "strict": True},
        "note": "task=sentiment:; text=good {task} stuff",
    }
    assert loopback.records[0]["body"] == expected
    # The value at the path is an object: a Json value, exactly what the server received.
    assert out.value.kind is ValueKind.JSON and out.value.as_json() == expected
    # An explicit task hint is what {task} becomes.
    call(expert, "plain words", ROOMY_MS, "sentiment:fr")
    assert loopback.records[1]["body"]["input"]["tags"] == ["sentiment:fr", "fixed"]


def test_http_json_whole_reply_numbers_and_null(loopback, make_expert, call):
    table = {"kind": "json", "url": loopback.url("/classify"), "tasks": ["sentiment:"]}
    whole = make_expert("whole", **table)  # default template {"text": "{text}"}, no path
    out = call(whole, "sentiment: great", ROOMY_MS)
    assert out.value.kind is ValueKind.JSON
    assert out.value.as_json()["label"] == "positive"
    assert out.value.as_json()["received"] == {"text": "great"}
    number = make_expert("number", **table, response_path="score.value")
    assert call(number, "sentiment: great", ROOMY_MS).value == Value.json(0.9)
    nothing = make_expert("nothing", **table, response_path="nothing")
    assert call(nothing, "sentiment: great", ROOMY_MS).value.is_none()


@pytest.mark.parametrize(
    "path, message",
    [
        ("missing", "response_path 'missing' not found: key 'missing' is missing at the reply (keys: label, "),
        ("label.deeper", "response_path 'label.deeper' not found: label is a string, not an object or list"),
        ("received.text.0", "received.text is a string"),
    ],
)
def test_http_json_missing_response_path_fails_clearly(loopback, make_expert, call, path, message):
    expert = sentiment(loopback, make_expert, response_path=path)
    with pytest.raises(ExpertFailed) as info:
        call(expert, "sentiment: great", ROOMY_MS)
    assert info.value.cause.startswith(f"malformed reply from {loopback.target}: ")
    assert message in info.value.cause


def test_http_json_list_indexes_in_response_path(loopback, make_expert, call):
    from urllib.parse import quote

    raw = '{"results": [{"label": "a"}, {"label": "b"}]}'
    table = {"kind": "json", "url": loopback.url("/raw?body=" + quote(raw)), "tasks": ["x:"]}
    assert call(make_expert("second", **table, response_path="results.1.label"), "x: y", ROOMY_MS).value == Value.text(
        "b"
    )
    with pytest.raises(ExpertFailed, match="results is a list of 2 items, which has no item '2'"):
        call(make_expert("third", **table, response_path="results.2.label"), "x: y", ROOMY_MS)


def test_http_json_auth_header_carries_the_bearer_key(loopback, make_expert, call, monkeypatch):
    monkeypatch.setenv("SENTIMENT_KEY", "sk-json-test-123")
    expert = sentiment(loopback, make_expert, api_key_env="SENTIMENT_KEY", auth_header="X-Api-Key")
    call(expert, "sentiment: good", ROOMY_MS)
    headers = loopback.records[0]["headers"]
    assert headers["X-Api-Key"] == "Bearer sk-json-test-123"
    assert "Authorization" not in headers
    # The key is read at call time: a rotated key is used by the next call.
    monkeypatch.setenv("SENTIMENT_KEY", "sk-rotated-456")
    call(expert, "sentiment: good", ROOMY_MS)
    assert loopback.records[1]["headers"]["X-Api-Key"] == "Bearer sk-rotated-456"


def test_http_json_shares_retry_and_deadline_semantics(loopback, make_expert, call):
    expert = sentiment(loopback, make_expert, url=loopback.url("/hang"))
    started = time.monotonic()
    with pytest.raises(ExpertFailed, match="timed out after"):
        call(expert, "sentiment: good", 150)
    assert time.monotonic() - started < loopback.cut_within_s  # cut, not left to the server's hang
    gone = loopback.wait_for_disconnect()
    assert gone is not None and gone["time"] - loopback.records[0]["time"] < loopback.cut_within_s
    expert = sentiment(loopback, make_expert, url=loopback.url("/status?code=500"), max_retries=1, backoff_base_ms=10)
    with pytest.raises(ExpertFailed, match=r"HTTP 500 from .* after 2 attempts"):
        call(expert, "sentiment: good", ROOMY_MS)


def test_http_json_can_handle(loopback, make_expert):
    expert = sentiment(loopback, make_expert)
    assert expert.can_handle("sentiment: x") and expert.can_handle("SENTIMENT:x")
    assert not expert.can_handle("chat: x")
    assert expert.description == f"JSON API at {loopback.url('/classify')}"
    assert expert.name == "sentiment_api" and expert.domain == "http"
    assert expert.example == "sentiment: hello" and expert.can_handle(expert.example)
