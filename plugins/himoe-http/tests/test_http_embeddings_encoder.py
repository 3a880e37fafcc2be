"""The `openai-embeddings` encoder against a real OpenAI-style embeddings server on loopback:
batching, caching, deadlines and failures; and the chat expert's confidence from token logprobs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import trio

from himoe_core import Context, HiMoE, InputData
from himoe_core.routing import EncodeError
from himoe_core.testing import ConstantExpert

EMBEDDING_DIM = 8  # the loopback service's (tests/conftest.py)


def _encoder(loopback, path="/embeddings", **options):
    from himoe_http import OpenAIEmbeddingsEncoder

    return OpenAIEmbeddingsEncoder().configure(url=loopback.url(path), model="embedder", dim=EMBEDDING_DIM, **options)


def test_requests_arriving_together_share_one_call_and_repeats_come_from_the_cache(loopback):
    encoder = _encoder(loopback, batch_wait_ms=20.0)
    texts = ["alpha", "beta", "gamma", "beta", "delta"]
    vectors = {}

    async def main():
        async def one(i, text):
            vectors[i] = await encoder.encode_async(InputData.text(text), Context.start(30_000.0))

        async with trio.open_nursery() as nursery:
            for i, text in enumerate(texts):
                nursery.start_soon(one, i, text)
        again = await encoder.encode_async(InputData.text("gamma"), Context.start(30_000.0))
        np.testing.assert_array_equal(again.vector, np.float32(loopback.embedding("gamma")))

    trio.run(main)
    calls = [r for r in loopback.records if r["path"] == "/embeddings"]
    assert len(calls) == 1 and sorted(calls[0]["body"]["input"]) == ["alpha", "beta", "delta", "gamma"]
    assert calls[0]["body"]["model"] == "embedder"
    for i, text in enumerate(texts):
        np.testing.assert_array_equal(vectors[i].vector, np.float32(loopback.embedding(text)))
    assert encoder.calls == 1  # the repeat was cached


def test_a_router_gates_and_learns_on_the_service_embeddings(loopback):
    moe = HiMoE(
        experts=[ConstantExpert("a"), ConstantExpert("b")],
        entry_points=True,
        environ={"HIMOE_LOAD_PLUGINS": "himoe-http"},
        config={
            "routers": {
                "r": {
                    "kind": "logistic",
                    "experts": ["a", "b"],
                    "encoder": {"id": "openai-embeddings", "url": loopback.url("/embeddings"), "dim": EMBEDDING_DIM},
                }
            },
            "state": {"enabled": False},
        },
    )
    try:
        response = moe.run_sync("how many apples", budget_ms=30_000.0)
        features = response.decision.features
        np.testing.assert_array_equal(features.vector, np.float32(loopback.embedding("how many apples")))
        assert moe.feedback(response.trace_id, reward=1.0)["router_learns"]
    finally:
        moe.close()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/status?code=500", "HTTP 500"),
        ("/embeddings-short", "an embedding of shape \\(3,\\), expected 8 finite values"),
        ("/raw?body=%7B%7D", "malformed reply .*'data'"),
    ],
)
def test_a_failed_call_is_an_encode_error_naming_the_service_and_the_cause(loopback, path, message):
    encoder = _encoder(loopback, path, max_retries=0)

    async def main():
        await encoder.encode_async(InputData.text("hello"), Context.start(30_000.0))

    with pytest.raises(EncodeError, match=f"embeddings service {loopback.target}: .*{message}"):
        trio.run(main)


def test_no_request_waits_past_its_deadline_for_its_embedding(loopback):
    encoder = _encoder(loopback, "/hang")

    async def main():
        started = trio.current_time()
        with pytest.raises(EncodeError, match="no embedding within the request's deadline \\(200 ms budget\\)"):
            await encoder.encode_async(InputData.text("hello"), Context.start(200.0))
        return trio.current_time() - started

    waited = trio.run(main)
    assert waited >= 0.2 and waited < 20.0  # cut at its deadline (bounded loosely: a busy machine)


def test_the_chat_expert_reports_its_confidence_from_token_logprobs(loopback, make_expert, call):
    measured = make_expert(kind="openai-chat", url=loopback.url("/ok"), tasks=["chat:"], model="m", logprobs=True)
    out = call(measured, "chat: how are you", 30_000.0)
    assert loopback.records[-1]["body"]["logprobs"] is True
    assert out.aux.confidence == pytest.approx(0.8)
    declared = make_expert(kind="openai-chat", url=loopback.url("/ok"), tasks=["chat:"], model="m")
    assert call(declared, "chat: how are you", 30_000.0).aux.confidence == 0.5
    assert "logprobs" not in loopback.records[-1]["body"]
    assert math.isclose(measured.config.confidence, 0.5)
