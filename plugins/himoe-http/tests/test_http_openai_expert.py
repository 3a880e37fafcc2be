"""OpenAIChatExpert against a real loopback HTTP server: answers, costs, deadlines, retries,
failures and cancellation."""

from __future__ import annotations

import gc
import logging
import re
import threading
import time
import warnings
from urllib.parse import quote

import pytest
import trio
from himoe_http.base_models.http.httpx_loader import load_ssl_context

from himoe_core import Cancelled, Context, ExpertFailed, InputData, InvalidInput, ValueKind

ROOMY_MS = 10_000  # for calls checked for what they answer, not when: a budget no busy machine uses up


def chat(loopback, make_expert, path, **overrides):
    table = {
        "kind": "openai-chat",
        "url": loopback.url(path),
        "model": "llama-3-8b",
        "tasks": ["chat:", "ask:"],
        "price_per_1k_input": 0.5,
        "price_per_1k_output": 1.5,
        "system_prompt": "You are helpful.",
        "backoff_base_ms": 20,
        **overrides,
    }
    return make_expert("local_llm", **table)


def timed(fn, *args):
    started = time.monotonic()
    try:
        return fn(*args), (time.monotonic() - started) * 1000.0
    except BaseException as exc:
        exc.elapsed_ms = (time.monotonic() - started) * 1000.0
        raise


def failure_then_disconnect(loopback, expert, budget_ms):
    """(ExpertFailed, seconds the call took, the server's disconnect record or None): the call in
    a fresh trio run, then the server watched for the connection's close while that run, and so
    its connection pool, is still alive; a close seen then was the call's own doing."""
    load_ssl_context()  # as the `call` fixture: not inside the budget

    async def main():
        started = time.monotonic()
        try:
            await expert.infer(InputData.text("chat: hi"), Context.start(budget_ms))
        except ExpertFailed as exc:
            failed, took = exc, time.monotonic() - started
        else:
            raise AssertionError("the call did not fail")
        return failed, took, await trio.to_thread.run_sync(loopback.wait_for_disconnect)

    return trio.run(main)


def timed_out_after_ms(cause):
    """The milliseconds a "timed out after N ms" cause reports."""
    found = re.match(r"timed out after (\d+) ms", cause)
    assert found, cause
    return int(found.group(1))


def requested_waits(caplog):
    """The waits the caller asked for before each retry, in ms, from its log: [(ms, by Retry-After)]."""
    waits = []
    for record in caplog.records:
        found = re.search(r"retrying in (\d+) ms( \(Retry-After\))?", record.getMessage())
        if record.name == "himoe_http" and found:
            waits.append((int(found.group(1)), found.group(2) is not None))
    return waits


def test_http_openai_answer_cost_and_request(loopback, make_expert, call):
    expert = chat(loopback, make_expert, "/ok")
    out = call(expert, "chat: What is 2+2?", ROOMY_MS)
    assert out.value.kind is ValueKind.TEXT
    assert out.value.as_text() == "you said: What is 2+2?"
    # The server counted characters as tokens: prompt = system + user, completion = the answer.
    prompt_tokens = len("You are helpful.") + len("What is 2+2?")
    completion_tokens = len("you said: What is 2+2?")
    assert out.aux.cost_units == pytest.approx(prompt_tokens / 1000 * 0.5 + completion_tokens / 1000 * 1.5)
    assert out.aux.confidence == 0.5
    [record] = loopback.records
    assert record["body"] == {
        "model": "llama-3-8b",
        "messages": [{"role": "system", "content": "You are helpful."}, {"role": "user", "content": "What is 2+2?"}],
    }
    assert record["headers"]["Content-Type"] == "application/json"
    assert "Authorization" not in record["headers"]  # no api_key_env configured


def test_http_openai_prefix_stripping_options_and_confidence(loopback, make_expert, call):
    expert = chat(
        loopback, make_expert, "/ok", confidence=0.8, temperature=0.2, max_tokens=64, system_prompt="Be brief."
    )
    out = call(expert, "  ASK:   why is the sky blue?  ", ROOMY_MS)
    assert out.value.as_text() == "you said: why is the sky blue?"
    assert out.aux.confidence == 0.8
    body = loopback.records[0]["body"]
    assert body["messages"][-1] == {"role": "user", "content": "why is the sky blue?"}
    assert body["temperature"] == 0.2 and body["max_tokens"] == 64
    # Text without a prefix (routed by task hint) is sent whole.
    out = call(expert, "hello there", ROOMY_MS, "chat:")
    assert out.value.as_text() == "you said: hello there"


def test_http_openai_without_system_prompt_or_usage(loopback, make_expert, call):
    raw = '{"choices": [{"message": {"role": "assistant", "content": "fine"}}]}'
    expert = make_expert(
        "bare",
        kind="openai-chat",
        url=loopback.url("/raw?body=" + quote(raw)),
        model="m",
        tasks=["chat:"],
        cost_units=0.7,
    )
    out = call(expert, "chat: hi", ROOMY_MS)
    assert out.value.as_text() == "fine"
    assert out.aux.cost_units == 0.7  # no usage: the configured expected cost
    assert loopback.records[0]["body"] == {"model": "m", "messages": [{"role": "user", "content": "hi"}]}


def test_http_openai_can_handle_by_prefix(loopback, make_expert):
    expert = chat(loopback, make_expert, "/ok")
    assert expert.can_handle("chat: hi") and expert.can_handle("Ask: why") and expert.can_handle("  chat:")
    assert not expert.can_handle("plan: a trip") and not expert.can_handle("")
    assert expert.name == "local_llm" and expert.domain == "http" and expert.cost_units == 1.0
    assert "llama-3-8b" in expert.description


def test_http_openai_example_is_answered_through_the_endpoint(loopback, make_expert, himoe_factory):
    from himoe_core.testing import assert_examples_answered

    expert = chat(loopback, make_expert, "/ok")
    assert expert.example == "chat: hello"
    assert assert_examples_answered(himoe_factory([expert])) == ["local_llm"]


def test_http_openai_rejects_non_text_and_empty_prompt(loopback, make_expert):
    expert = chat(loopback, make_expert, "/ok")

    async def infer(x):
        return await expert.infer(x, Context.start(300))

    with pytest.raises(InvalidInput, match="takes text input"):
        trio.run(infer, InputData.bytes(b"\x00\x01"))
    with pytest.raises(InvalidInput, match="empty prompt"):
        trio.run(infer, InputData.text("chat:   "))
    assert loopback.records == []


def test_http_openai_slow_reply_is_cut_at_the_deadline(loopback, make_expert, call):
    expert = chat(loopback, make_expert, f"/slow?ms={loopback.hang_limit_s * 1000:.0f}")
    with pytest.raises(ExpertFailed) as info:
        timed(call, expert, "chat: hi", 250)
    # Cut at the deadline (not before it), not when the server would have answered.
    assert info.value.elapsed_ms < loopback.cut_within_s * 1000
    assert info.value.name == "local_llm"
    assert timed_out_after_ms(info.value.cause) >= 250
    assert loopback.target in info.value.cause
    assert len(loopback.records) == 1  # a timeout is not retried: the budget is spent


@pytest.mark.parametrize("path", ["/hang", "/headers-then-hang"])
def test_http_openai_hanging_server_is_disconnected_at_the_deadline(loopback, make_expert, path):
    """Before its reply or in the middle of its body: the call ends at its deadline, and closes
    its connection then, not when the pool is closed at the end of the trio run."""
    expert = chat(loopback, make_expert, path)
    failed, took_s, gone = failure_then_disconnect(loopback, expert, 200)
    assert timed_out_after_ms(failed.cause) >= 200 and took_s < loopback.cut_within_s
    assert gone is not None, "the server never saw the connection close"
    assert gone["time"] - loopback.records[0]["time"] < loopback.cut_within_s


def test_http_openai_500_is_retried_then_fails_with_the_last_reply(loopback, make_expert, call, caplog):
    caplog.set_level(logging.INFO, logger="himoe_http")
    expert = chat(loopback, make_expert, "/status?code=500", max_retries=2)
    with pytest.raises(ExpertFailed) as info:
        call(expert, "chat: hi", ROOMY_MS)
    assert info.value.cause == (
        f'HTTP 500 from {loopback.target} after 3 attempts (last reply: {{"error": "internal error"}})'
    )
    assert len(loopback.records) == 3
    assert len(requested_waits(caplog)) == 2  # a wait before each retry, none after the last attempt


def test_http_openai_retries_stop_when_the_budget_cannot_cover_the_wait(loopback, make_expert, call, caplog):
    caplog.set_level(logging.INFO, logger="himoe_http")
    # Retry-After asks for 5 s, the budget is 4 s: no retry, and no waiting for nothing.
    expert = chat(loopback, make_expert, "/status?code=503&retry_after=5", max_retries=5)
    with pytest.raises(ExpertFailed) as info:
        timed(call, expert, "chat: hi", 4000)
    assert info.value.cause.startswith(f"HTTP 503 from {loopback.target} after 1 attempt;")
    assert "Retry-After asks for 5000 ms" in info.value.cause
    assert len(loopback.records) == 1 and requested_waits(caplog) == []
    assert info.value.elapsed_ms < 4000 / 2  # given up at once, not at the end of the budget
    # With big exponential backoff and many retries allowed, the budget still bounds the call:
    # retries stop at the first wait that the rest of the budget cannot cover.
    caplog.clear()
    expert = chat(loopback, make_expert, "/status?code=500", max_retries=10, backoff_base_ms=150)
    with pytest.raises(ExpertFailed) as info:
        timed(call, expert, "chat: hi", 300)
    assert re.search(r"not retried: the next backoff is \d+ ms|^timed out after", info.value.cause), info.value.cause
    waits = requested_waits(caplog)
    attempts = sum(record["query"]["code"] == "500" for record in loopback.records)
    assert sum(ms for ms, _ in waits) < 300 and len(waits) <= attempts <= len(waits) + 1 < 1 + 10
    assert info.value.elapsed_ms < loopback.cut_within_s * 1000  # the ten retries' ceilings add up to 20 s


def test_http_openai_429_then_success_honours_retry_after(loopback, make_expert, call, caplog):
    caplog.set_level(logging.INFO, logger="himoe_http")
    expert = chat(loopback, make_expert, "/fail-then-ok?code=429&times=1&retry_after=0.15")
    out = call(expert, "chat: hi", ROOMY_MS)
    assert out.value.as_text() == "you said: hi"
    assert requested_waits(caplog) == [(150, True)]  # the server's wait, not the backoff's
    first, second = loopback.records
    assert second["time"] - first["time"] >= 0.15 - 0.001  # and it was waited out


def test_http_openai_5xx_then_success_uses_jittered_backoff(loopback, make_expert, call, caplog):
    caplog.set_level(logging.INFO, logger="himoe_http")
    expert = chat(loopback, make_expert, "/fail-then-ok?code=502&times=2", backoff_base_ms=30, max_retries=2)
    out = call(expert, "chat: hi", ROOMY_MS)
    assert out.value.as_text() == "you said: hi"
    assert len(loopback.records) == 3
    # Full jitter: the wait before retry n is within [0, base * 2**(n-1)], and was waited out.
    waits = requested_waits(caplog)
    assert [by_server for _, by_server in waits] == [False, False]
    assert waits[0][0] <= 30 and waits[1][0] <= 60
    gaps = [b["time"] - a["time"] for a, b in zip(loopback.records, loopback.records[1:])]
    assert all(gap >= ms / 1000 - 0.001 for gap, (ms, _) in zip(gaps, waits)), (gaps, waits)


def test_http_openai_dropped_connection_is_retried(loopback, make_expert, call):
    expert = chat(loopback, make_expert, "/drop-then-ok?times=1")
    out = call(expert, "chat: hi", ROOMY_MS)
    assert out.value.as_text() == "you said: hi"
    assert len(loopback.records) == 2


def test_http_openai_connection_refused_fails_after_retries(make_expert, call):
    port = unused_port()
    expert = make_expert(
        "gone",
        kind="openai-chat",
        url=f"http://127.0.0.1:{port}/v1",
        model="m",
        tasks=["chat:"],
        max_retries=2,
        backoff_base_ms=10,
    )
    with pytest.raises(ExpertFailed) as info:
        call(expert, "chat: hi", ROOMY_MS)
    assert info.value.cause.startswith(f"connection to 127.0.0.1:{port} failed (ConnectError")
    assert info.value.cause.endswith("after 3 attempts")


def test_http_openai_401_is_not_retried(loopback, make_expert, call):
    expert = chat(loopback, make_expert, "/status?code=401", max_retries=3)
    with pytest.raises(ExpertFailed) as info:
        call(expert, "chat: hi", ROOMY_MS)
    assert info.value.cause.startswith(f"HTTP 401 from {loopback.target} (not retried)")
    assert len(loopback.records) == 1


@pytest.mark.parametrize(
    "body, cause",
    [
        ("this is not json {", "malformed JSON reply from {target}: Expecting value"),
        ("", "malformed JSON reply from {target}: Expecting value: line 1 column 1 (char 0); the body is empty"),
        ('{"value": NaN}', "malformed JSON reply from {target}: NaN is not valid JSON"),
        ("[1, 2]", "malformed reply from {target}: expected a JSON object, got list"),
        ('{"id": "x"}', "malformed reply from {target}: 'choices' is missing"),
        ('{"error": {"message": "model not loaded"}}', "'choices' is missing; the server reported an error: "),
        ('{"choices": []}', "'choices' is empty"),
        ('{"choices": "nope"}', "'choices' must be a list, got string 'nope'"),
        ('{"choices": [{"text": "hi"}]}', "choices[0].message is missing"),
        ('{"choices": [{"message": {"role": "assistant"}}]}', "choices[0].message.content is missing"),
        ('{"choices": [{"message": {"content": 42}}]}', "choices[0].message.content must be a string, got number 42"),
        ('{"choices": [{"message": {"content": null}}]}', "choices[0].message.content must be a string, got null"),
        (
            '{"choices": [{"message": {"content": "x"}}], "usage": {"prompt_tokens": "7", "completion_tokens": 1}}',
            "usage.prompt_tokens must be an integer >= 0, got string '7'",
        ),
        ('{"choices": [{"message": {"content": "x"}}], "usage": []}', "'usage' must be an object, got list"),
    ],
)
def test_http_openai_malformed_replies_fail_clearly(loopback, make_expert, call, body, cause):
    expert = chat(loopback, make_expert, "/raw?body=" + quote(body))
    with pytest.raises(ExpertFailed) as info:
        call(expert, "chat: hi", ROOMY_MS)
    assert cause.format(target=loopback.target) in info.value.cause
    assert "\n" not in info.value.cause
    assert len(loopback.records) == 1  # a malformed reply is not retried


@pytest.mark.parametrize("path", ["/big", "/big-stream"])
def test_http_openai_reply_larger_than_the_limit_fails(loopback, make_expert, call, path):
    expert = chat(loopback, make_expert, path + "?bytes=200000", max_response_bytes=100_000)
    with pytest.raises(ExpertFailed, match=r"larger than max_response_bytes \(100000 bytes\)"):
        call(expert, "chat: hi", ROOMY_MS)
    # Under the limit, the same reply is read whole (and is no chat completion).
    expert = chat(loopback, make_expert, path + "?bytes=50000", max_response_bytes=100_000)
    with pytest.raises(ExpertFailed, match="expected a JSON object, got string"):
        call(expert, "chat: hi", ROOMY_MS)


def test_http_openai_trio_cancellation_closes_the_upstream_request(loopback, make_expert):
    expert = chat(loopback, make_expert, "/hang")

    async def main():
        with trio.CancelScope() as scope:
            async with trio.open_nursery() as nursery:

                async def cut_once_sent():  # not before: a request never sent has nothing to close
                    await trio.to_thread.run_sync(loopback.wait_for_request)
                    scope.cancel()

                nursery.start_soon(cut_once_sent)
                await expert.infer(InputData.text("chat: hi"), Context.start(ROOMY_MS))
        # Watched while the run, and so its connection pool, is alive: the cancel closed it.
        return scope.cancelled_caught, await trio.to_thread.run_sync(loopback.wait_for_disconnect)

    caught, gone = trio.run(main)
    assert caught
    assert gone is not None, "the server never saw the connection close"


@pytest.mark.parametrize("from_thread", [False, True])
def test_http_openai_ctx_cancel_closes_the_upstream_request(loopback, make_expert, from_thread):
    expert = chat(loopback, make_expert, "/hang")
    ctx = Context.start(ROOMY_MS)

    async def infer():
        try:
            await expert.infer(InputData.text("chat: hi"), ctx)
        except Cancelled as exc:
            # Watched while the run, and so its connection pool, is alive: the cancel closed it.
            return exc, await trio.to_thread.run_sync(loopback.wait_for_disconnect)

    # Cancelled once the server has the request, not before: a request never sent has nothing to close.
    async def main():
        if from_thread:
            threading.Thread(
                target=lambda: (loopback.wait_for_request(), ctx.cancel.cancel("user pressed stop"))
            ).start()
            return await infer()

        async def cancel_later():
            await trio.to_thread.run_sync(loopback.wait_for_request)
            ctx.cancel.cancel("user pressed stop")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(cancel_later)
            return await infer()

    exc, gone = trio.run(main)
    assert isinstance(exc, Cancelled) and "user pressed stop" in str(exc)
    assert gone is not None, "the server never saw the connection close"
    assert gone["time"] - loopback.records[0]["time"] < loopback.cut_within_s  # the budget was 10 s


def test_http_openai_already_cancelled_or_expired_sends_nothing(loopback, make_expert):
    expert = chat(loopback, make_expert, "/ok")

    async def main(ctx):
        return await expert.infer(InputData.text("chat: hi"), ctx)

    ctx = Context.start(ROOMY_MS)
    ctx.cancel.cancel("stop")
    with pytest.raises(Cancelled):
        trio.run(main, ctx)
    with pytest.raises(ExpertFailed, match="deadline had passed"):
        trio.run(main, Context.start(0))
    assert loopback.records == []


def test_http_openai_warm_client_reuses_the_connection(loopback, make_expert):
    expert = chat(loopback, make_expert, "/ok")

    async def main():
        for text in ("chat: one", "chat: two", "chat: three"):
            out = await expert.infer(InputData.text(text), Context.start(ROOMY_MS))
            assert out.value.as_text() == "you said: " + text.split(": ")[1]
        await expert.aclose()

    trio.run(main)
    ports = {record["client_port"] for record in loopback.records}
    assert len(ports) == 1, ports  # one keep-alive connection for the three calls
    # A new trio run gets its own client (the old run's pool is closed, not reused across loops).
    trio.run(main)
    assert len({record["client_port"] for record in loopback.records}) == 2


def test_http_openai_concurrent_calls_share_one_client(loopback, make_expert):
    slow_s = 2.0
    expert = chat(loopback, make_expert, f"/slow?ms={slow_s * 1000:.0f}")
    results = []

    async def one(i):
        out = await expert.infer(InputData.text(f"chat: q{i}"), Context.start(ROOMY_MS))
        results.append(out.value.as_text())

    async def main():
        async with trio.open_nursery() as nursery:
            for i in range(5):
                nursery.start_soon(one, i)
        assert len(expert._caller._clients) == 1

    trio.run(main)
    assert sorted(results) == [f"you said: q{i}" for i in range(5)]
    # In parallel, not one after the other: each request stays slow_s at the server, so the last
    # one arriving before the first one's reply means all five were in flight at once.
    arrivals = [record["time"] for record in loopback.records]
    assert max(arrivals) - min(arrivals) < slow_s, arrivals
    assert expert._caller._clients == {}  # closed with its trio run


def test_http_openai_pool_is_closed_when_the_trio_run_ends(loopback, make_expert):
    expert = chat(loopback, make_expert, "/ok")
    gc.collect()  # what earlier tests left (another suite's worker processes) is not judged here
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        for _ in range(3):
            trio.run(expert.infer, InputData.text("chat: hi"), Context.start(ROOMY_MS))
        del expert
        gc.collect()
    assert [w for w in caught if issubclass(w.category, ResourceWarning)] == []


def unused_port():
    """A port nothing listens on: bound, then released."""
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def test_http_openai_pool_made_for_a_call_that_gave_up_serves_the_next(loopback, make_expert, monkeypatch):
    from himoe_http.base_models.http import http_caller

    make_client = http_caller._new_client
    release, built = threading.Event(), threading.Event()

    def slow_new_client():  # as on a first call, where importing httpx takes tens of ms
        release.wait(timeout=loopback.hang_limit_s)
        client = make_client()
        built.set()
        return client

    monkeypatch.setattr(http_caller, "_new_client", slow_new_client)
    expert = chat(loopback, make_expert, "/ok")

    async def main():
        # The client is not built before the first call's deadline: the call gives up then,
        # while the pool is finished in the background for the next call.
        with pytest.raises(ExpertFailed, match="timed out after"):
            await expert.infer(InputData.text("chat: first"), Context.start(10))
        assert not built.is_set()  # it did not wait for the client
        release.set()
        out = await expert.infer(InputData.text("chat: second"), Context.start(ROOMY_MS))
        assert out.value.as_text() == "you said: second"

    trio.run(main)
    assert [r["body"]["messages"][-1]["content"] for r in loopback.records] == ["second"]


def test_http_openai_request_options_and_history_reach_the_endpoint(loopback, make_expert):
    """`ctx.options` (what `himoe serve` fills from a chat request) override the config's settings,
    and the earlier turns go between the system prompt and the user message."""
    expert = chat(loopback, make_expert, "/ok", temperature=0.2, max_tokens=64)
    options = {
        "max_tokens": 7,
        "temperature": 0.9,
        "stop": ("\n",),
        "ignored_by_this_expert": 1,
        "messages": ({"role": "user", "content": "earlier"}, {"role": "assistant", "content": "answer"}),
    }

    async def main():
        return await expert.infer(InputData.text("chat: now"), Context.start(ROOMY_MS, options=options))

    out = trio.run(main)
    assert out.value.as_text() == "you said: now"
    body = loopback.records[0]["body"]
    assert body == {
        "model": "llama-3-8b",
        "max_tokens": 7,
        "temperature": 0.9,
        "stop": ["\n"],
        "messages": [
            {"role": "system", "content": "You are helpful."},
            {"role": "user", "content": "earlier"},
            {"role": "assistant", "content": "answer"},
            {"role": "user", "content": "now"},
        ],
    }
