"""Embedding the engine: run_sync from threads, HiMoE.open, Response, traces, input errors."""

from __future__ import annotations

import json
import math
import threading
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import numpy as np
import pytest
import trio
import trio.testing

from himoe_core import (
    Context,
    ExpertAux,
    ExpertOut,
    HiMoE,
    InputData,
    InvalidInput,
    NoExpertSelected,
    Response,
    Value,
    ValueKind,
)
from himoe_core.routing import MixMeta, RouterInput
from himoe_core.testing import ConstantExpert, EchoExpert, SleepyExpert


def _mock_run(fn):
    return trio.run(fn, clock=trio.testing.MockClock(autojump_threshold=0))


def _config(*names, **himoe):
    return {
        "himoe": {"budget_ms": 2000, **himoe},
        "routers": {"main": {"experts": list(names), "k": 1, "aggregator": "best_score"}},
    }


def _moe(experts, **himoe):
    return HiMoE(experts=experts, entry_points=False, environ={}, config=_config(*[e.name for e in experts], **himoe))


def test_run_sync_from_many_threads_at_once():
    echo = EchoExpert("echo", delay_s=0.05)
    barrier = threading.Barrier(16)

    def ask(i):
        barrier.wait(5)
        return moe.run_sync(f"question {i}")

    with _moe([echo]) as moe:
        with ThreadPoolExecutor(16) as pool:
            responses = list(pool.map(ask, range(16)))
    assert [r.value.as_text() for r in responses] == [f"echo: question {i}" for i in range(16)]
    assert len({r.trace_id for r in responses}) == 16
    assert echo.calls == 16
    assert len(moe.traces) == 16


def test_run_sync_after_close_starts_a_fresh_loop_and_close_is_idempotent():
    moe = _moe([ConstantExpert("c", value="v")])
    assert moe.run_sync("q").value.as_text() == "v"
    moe.close()
    moe.close()
    assert moe.run_sync("q").value.as_text() == "v"
    moe.close()


def test_run_sync_inside_the_engine_loop_is_refused():
    moe = _moe([ConstantExpert("c", value="v")])

    async def nested():
        return moe.run_sync("q")

    try:
        moe.run_sync("warm up")
        with pytest.raises(RuntimeError, match="await moe.run"):
            moe._loop.call(nested)
    finally:
        moe.close()


def test_open_in_a_trio_app():
    async def main():
        async with HiMoE.open(
            experts=[EchoExpert("echo")], entry_points=False, environ={}, config=_config("echo")
        ) as moe:
            async with trio.open_nursery() as nursery:
                results = {}

                async def ask(i):
                    results[i] = (await moe.run(f"q{i}")).value.as_text()

                for i in range(5):
                    nursery.start_soon(ask, i)
            return results

    assert _mock_run(main) == {i: f"echo: q{i}" for i in range(5)}


def test_response_fields():
    moe = _moe([SleepyExpert("sleepy", delay_s=0.012, value={"answer": 42}, confidence=0.7, cost_units=1.5)])

    async def main():
        return await moe.run("what is it?", trace_id="req-1")

    r = _mock_run(main)
    assert isinstance(r, Response)
    assert r.value.kind is ValueKind.JSON and r.value.as_json() == {"answer": 42}
    assert r.trace_id == "req-1"
    assert r.router == "main"
    assert isinstance(r.mix, MixMeta)
    assert r.mix.topk == 1 and r.mix.aggregator == "best_score" and r.mix.cost_units == 1.5
    assert r.elapsed_ms == pytest.approx(12.0, abs=1e-3)
    text = json.dumps(r.trace)
    assert json.loads(text)["trace_id"] == "req-1"
    json.dumps(r.to_jsonable())
    stored = moe.traces.get("req-1")
    assert stored == r.trace
    assert stored["value"] == {"kind": "json", "schema": 1, "data": {"answer": 42}}
    call = stored["attempts"][0]["calls"][0]
    assert call["expert"] == "sleepy" and call["status"] == "ok"
    assert call["confidence"] == 0.7 and call["cost_units"] == 1.5
    assert call["latency_ms"] == pytest.approx(12.0, abs=1e-3)
    gate = stored["attempts"][0]["gate"]
    assert gate[0]["expert"] == "sleepy" and gate[0]["prob"] == 1.0
    # the stored trace is a copy: mutating it changes nothing
    stored["router"] = "tampered"
    assert moe.traces.get("req-1")["router"] == "main"


def test_expert_aux_trace_id_and_latency_are_stamped_by_the_router():
    async def forger(x, ctx):
        await trio.sleep(0.005)
        return ExpertOut(Value.text("x"), ExpertAux(latency_ms=999.0, cost_units=2.0, trace_id="forged"))

    expert = SimpleNamespace(name="forger", can_handle=lambda task: True, infer=forger)
    moe = _moe([expert])
    router = moe.routers["main"].handle

    async def main():
        ctx = Context.start(1000, trace_id="real-trace")
        rin = RouterInput(InputData.text("q"))
        picks = router.pick_topk(router.gate(rin, ctx), 1)
        fanout, _ = await router.call_experts(rin, picks, ctx)
        return fanout

    fanout = _mock_run(main)
    [outcome] = fanout.outcomes
    assert outcome.out.aux.trace_id == "real-trace"
    assert outcome.out.aux.latency_ms == pytest.approx(5.0, abs=1e-3)
    assert outcome.out.aux.cost_units == 2.0  # the expert's own report is kept


def test_traces_are_bounded_by_trace_capacity():
    moe = _moe([ConstantExpert("c")], trace_capacity=3)

    async def main():
        return [(await moe.run(f"q{i}")).trace_id for i in range(5)]

    ids = _mock_run(main)
    assert len(moe.traces) == 3
    assert moe.traces.get(ids[0]) is None and moe.traces.get(ids[1]) is None
    assert [t["trace_id"] for t in moe.traces.recent()] == ids[2:]


@pytest.mark.parametrize(
    "bad",
    [
        None,
        [1.0, math.nan, 2.0],
        np.array([math.inf], dtype=np.float64),
        [],
        {"text": "dict"},
        np.zeros((2, 2)),
    ],
)
def test_bad_input_is_invalid_input(bad):
    moe = _moe([ConstantExpert("c")])

    async def main():
        await moe.run(bad)

    with pytest.raises(InvalidInput):
        _mock_run(main)


def test_nan_feature_message_points_at_the_value():
    moe = _moe([ConstantExpert("c")])

    async def main():
        await moe.run([1.0, math.nan])

    with pytest.raises(InvalidInput, match="index 1"):
        _mock_run(main)


@pytest.mark.parametrize("task", ["", "a\nb", "x" * 201])
def test_bad_task_hint_is_invalid_input(task):
    moe = _moe([ConstantExpert("c")])

    async def main():
        await moe.run("q", task=task)

    with pytest.raises(InvalidInput):
        _mock_run(main)


def test_bad_budget_is_invalid_input():
    moe = _moe([ConstantExpert("c")])

    async def main():
        await moe.run("q", budget_ms=-5)

    with pytest.raises(InvalidInput, match="-5"):
        _mock_run(main)


@pytest.mark.parametrize("text", ["", "   ", "\n\t"])
def test_empty_text_is_refused_before_routing(text):
    expert = ConstantExpert("c")
    moe = _moe([expert])

    async def main():
        await moe.run(text)

    with pytest.raises(InvalidInput, match="the request text is empty"):
        _mock_run(main)
    assert expert.calls == 0


@pytest.mark.parametrize("k", [0, -1, True, 1.5, "2"])
def test_bad_k_is_invalid_input_naming_it(k):
    moe = _moe([ConstantExpert("c")])

    async def main():
        await moe.run("q", k=k)

    with pytest.raises(InvalidInput, match=r"k must be a whole number >= 1.*got"):
        _mock_run(main)


def test_text_limit_comes_from_config():
    moe = HiMoE(
        experts=[ConstantExpert("c")],
        entry_points=False,
        environ={},
        config={**_config("c"), "limits": {"max_text_chars": 10}},
    )

    async def main():
        await moe.run("x" * 11)

    with pytest.raises(InvalidInput, match="max_text_chars"):
        _mock_run(main)


def test_unknown_router_names_the_configured_routers():
    moe = HiMoE(
        experts=[ConstantExpert("c")],
        entry_points=False,
        environ={},
        config={"routers": {"alpha": {"experts": ["c"]}, "beta": {"experts": ["c"]}}},
    )

    async def main():
        await moe.run("q", router="gamma")

    with pytest.raises(NoExpertSelected) as info:
        _mock_run(main)
    assert "'gamma'" in str(info.value) and "alpha" in str(info.value) and "beta" in str(info.value)


def test_inputdata_and_bytes_are_accepted():
    echo = EchoExpert("echo")
    moe = _moe([echo])

    async def main():
        a = await moe.run(InputData.text("hi", task="t"))
        b = await moe.run(b"\x00\x01", task="raw")
        return a.value.as_text(), b.value.as_text()

    assert _mock_run(main) == ("echo: hi", "echo: raw")


def test_default_config_serves_every_expert():
    moe = HiMoE(experts=[ConstantExpert("only", value="v")], entry_points=False, environ={})

    async def main():
        return await moe.run("q")

    response = _mock_run(main)
    assert response.router == "default" and response.value.as_text() == "v"
