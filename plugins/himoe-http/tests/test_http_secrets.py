"""The API key never leaks: not in exceptions, reprs, logs or returned values, on any path."""

from __future__ import annotations

import logging
import traceback
from urllib.parse import quote

import pytest
import trio

from himoe_core import Cancelled, Context, ExpertFailed, InputData

ROOMY_MS = 10_000  # for calls checked for what they answer, not when: a budget no busy machine uses up

FAKE_KEY = "sk-FAKE-7f3c9d2e-DO-NOT-LEAK"


def leaks(text):
    return FAKE_KEY in text or FAKE_KEY[3:] in text


@pytest.fixture
def keyed(loopback, make_expert, monkeypatch):
    monkeypatch.setenv("LOCAL_LLM_KEY", FAKE_KEY)

    def make(path, **overrides):
        table = {
            "kind": "openai-chat",
            "url": loopback.url(path),
            "model": "m",
            "tasks": ["chat:"],
            "api_key_env": "LOCAL_LLM_KEY",
            "max_retries": 2,
            "backoff_base_ms": 10,
            **overrides,
        }
        return make_expert("local_llm", **table)

    return make


def failure(expert, budget_ms=ROOMY_MS):
    try:
        trio.run(_infer, expert, Context.start(budget_ms))
    except ExpertFailed as exc:
        return exc
    raise AssertionError("the call did not fail")


async def _infer(expert, ctx):
    return await expert.infer(InputData.text("chat: hi"), ctx)


def assert_clean(exc, expert):
    for text in (
        str(exc),
        repr(exc),
        exc.cause,
        repr(expert),
        repr(expert.config),
        repr(expert._caller),
        "".join(traceback.format_exception(exc)),
    ):
        assert not leaks(text), text


def test_http_key_is_sent_as_bearer(loopback, keyed):
    expert = keyed("/ok")
    out = trio.run(_infer, expert, Context.start(ROOMY_MS))
    assert out.value.as_text() == "you said: hi"
    assert loopback.records[0]["headers"]["Authorization"] == f"Bearer {FAKE_KEY}"
    assert not leaks(repr(expert)) and not leaks(repr(out)) and not leaks(repr(out.value))


@pytest.mark.parametrize(
    "path, expected",
    [
        ("/status?code=401", "HTTP 401"),  # the server echoes the header back
        ("/status?code=500", "HTTP 500"),  # retried, then given up
        ("/fail-then-ok?code=429&times=9&retry_after=0.01", "HTTP 429"),
        ("/status?code=503&retry_after=30", "Retry-After"),  # no budget for the wait
        ("/hang", "timed out after"),
        ("/slow?ms=2000", "timed out after"),
        ("/raw?body=" + quote("not json, key={auth}"), "malformed JSON reply"),
        ("/raw?body=" + quote('{"error": "bad key {auth}"}'), "'choices' is missing"),
        ("/raw?body=" + quote('{"choices": [{"message": {"content": ["{auth}"]}}]}'), "must be a string"),
        ("/big?bytes=300000", "larger than max_response_bytes"),
        ("/drop-then-ok?times=9", "connection to"),
    ],
)
def test_http_key_absent_from_every_failure(loopback, keyed, caplog, path, expected):
    caplog.set_level(logging.DEBUG)  # httpx and httpcore debug logs included
    expert = keyed(path, max_response_bytes=100_000)
    exc = failure(expert, 300 if expected == "timed out after" else ROOMY_MS)
    assert expected in exc.cause
    assert_clean(exc, expert)
    assert loopback.records, "the request was not even sent"
    assert loopback.records[0]["headers"]["Authorization"] == f"Bearer {FAKE_KEY}"
    assert not leaks(caplog.text)
    for record in caplog.records:
        assert not leaks(record.getMessage())


def test_http_key_absent_when_unreachable_or_cancelled(keyed, caplog):
    caplog.set_level(logging.DEBUG)
    expert = keyed("/ok", url="http://127.0.0.1:9/nothing-listens-here")
    exc = failure(expert)
    assert "connection to 127.0.0.1:9 failed" in exc.cause
    assert_clean(exc, expert)
    ctx = Context.start(300)
    ctx.cancel.cancel("stop")
    with pytest.raises(Cancelled) as info:
        trio.run(_infer, expert, ctx)
    assert not leaks(str(info.value)) and not leaks(caplog.text)


def test_http_key_echoed_into_the_answer_is_redacted(loopback, keyed):
    expert = keyed("/echo-auth")
    out = trio.run(_infer, expert, Context.start(ROOMY_MS))
    text = out.value.as_text()
    assert text == "you said: hi auth=Bearer ***"
    assert not leaks(text)


def test_http_json_expert_redacts_the_key_in_json_replies(loopback, make_expert, monkeypatch):
    monkeypatch.setenv("SENTIMENT_KEY", FAKE_KEY)
    raw = '{"echo": {"{auth}": ["token {auth}", 1]}}'
    expert = make_expert(
        "api", kind="json", url=loopback.url("/raw?body=" + quote(raw)), tasks=["x:"], api_key_env="SENTIMENT_KEY"
    )
    out = trio.run(_infer_x, expert)
    assert out.value.as_json() == {"echo": {"Bearer ***": ["token Bearer ***", 1]}}


async def _infer_x(expert):
    return await expert.infer(InputData.text("x: y"), Context.start(ROOMY_MS))


def test_http_missing_or_unsendable_key_fails_without_sending(loopback, keyed, monkeypatch):
    expert = keyed("/ok")
    monkeypatch.delenv("LOCAL_LLM_KEY")
    exc = failure(expert)
    assert exc.cause == ("the API key environment variable LOCAL_LLM_KEY is not set or empty; export it before calling")
    bad_key = FAKE_KEY + "\r\nX-Injected: 1"
    monkeypatch.setenv("LOCAL_LLM_KEY", bad_key)
    exc = failure(expert)
    assert "holds characters an HTTP header cannot carry" in exc.cause
    assert not leaks(str(exc)) and bad_key not in repr(exc)
    assert loopback.records == []
