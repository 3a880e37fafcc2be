"""The parallel fan-out: deadlines, failures, worker threads, cancellation and budgets."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from functools import partial
from types import SimpleNamespace
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from himoe_core import (
    BudgetExceeded,
    Cancelled,
    CancelToken,
    DeadlineExceeded,
    ExpertAux,
    ExpertOut,
    HiMoE,
    NoExpertSelected,
)
from himoe_core.testing import (
    BlockingExpert,
    ConstantExpert,
    FailingExpert,
    HangingExpert,
    SleepyExpert,
)


@attrs.define
class WaitingExpert(BlockingExpert):
    """A BlockingExpert that blocks in `wait()` (a barrier, an event the test sets) instead of a
    sleep, ignoring cancellation: what overlaps and what waits is observed, not timed."""

    wait: Callable[[], Any] = attrs.field(kw_only=True)

    def infer(self, x, ctx):
        with self._lock:
            self.thread_ids.append(threading.get_ident())
        try:
            self.wait()
            return ExpertOut(self.value, ExpertAux(cost_units=self.cost_units, confidence=self.confidence))
        finally:
            self.done.set()


def _mock_run(fn):
    return trio.run(fn, clock=trio.testing.MockClock(autojump_threshold=0))


def _moe(experts, *, k=None, aggregator="best_score", budget_ms=1000.0, cost_budget=None, weights=None):
    router = {"kind": "static", "experts": [e.name for e in experts], "k": k or len(experts), "aggregator": aggregator}
    if weights:
        router["weights"] = weights
    himoe = {"budget_ms": budget_ms}
    if cost_budget is not None:
        himoe["cost_budget"] = cost_budget
    return HiMoE(experts=experts, entry_points=False, environ={}, config={"himoe": himoe, "routers": {"r": router}})


def _calls(response_or_trace):
    trace = getattr(response_or_trace, "trace", response_or_trace)
    return {c["expert"]: c for c in trace["attempts"][-1]["calls"]}


# -- deadlines on the mock clock ---------------------------------------------------------------------
def test_hanging_expert_is_cut_at_the_deadline_and_the_others_answer():
    hang = HangingExpert("stuck")
    fast = SleepyExpert("fast", delay_s=0.010, value="fast answer")
    slow = SleepyExpert("slow", delay_s=0.030, value="slow answer")
    moe = _moe([hang, fast, slow], budget_ms=100, weights={"stuck": 2.0, "slow": 1.0})

    async def main():
        t0 = trio.current_time()
        response = await moe.run("question")
        return response, trio.current_time() - t0

    response, elapsed = _mock_run(main)
    assert elapsed == pytest.approx(0.100, abs=1e-3)
    # best_score among successes: 'stuck' had the best gate but never answered
    assert response.value.as_text() == "slow answer"
    assert response.mix.drop_count == 1
    assert response.mix.topk == 3
    calls = _calls(response)
    assert calls["stuck"]["status"] == "timed_out"
    assert "deadline" in calls["stuck"]["cause"]
    assert calls["fast"]["status"] == calls["slow"]["status"] == "ok"
    assert calls["fast"]["latency_ms"] == pytest.approx(10.0, abs=1e-3)
    assert calls["slow"]["latency_ms"] == pytest.approx(30.0, abs=1e-3)
    assert hang.cancelled == 1
    assert dict(response.mix.failures)["stuck"].startswith("timed_out")


def test_every_expert_failing_names_each_expert_and_its_cause():
    experts = [
        FailingExpert("alpha", message="disk on fire"),
        FailingExpert("beta", message="bad weights", error_type=ValueError),
        FailingExpert("gamma", message="out of tokens", delay_s=0.005),
    ]
    moe = _moe(experts)

    async def main():
        await moe.run("question")

    with pytest.raises(NoExpertSelected) as info:
        _mock_run(main)
    message = str(info.value)
    for name, cause in [
        ("alpha", "RuntimeError: disk on fire"),
        ("beta", "ValueError: bad weights"),
        ("gamma", "RuntimeError: out of tokens"),
    ]:
        assert name in message and cause in message
        assert cause in info.value.failures[name]
    trace = moe.traces.recent(1)[0]
    assert trace["error"].startswith("NoExpertSelected")
    assert {c["status"] for c in _calls(trace).values()} == {"failed"}


def test_every_expert_hanging_is_deadline_exceeded_at_the_budget():
    experts = [HangingExpert("h1"), HangingExpert("h2")]
    moe = _moe(experts, budget_ms=250)

    async def main():
        t0 = trio.current_time()
        try:
            await moe.run("question")
        except DeadlineExceeded as exc:
            return exc, trio.current_time() - t0
        raise AssertionError("expected DeadlineExceeded")

    exc, elapsed = _mock_run(main)
    assert elapsed == pytest.approx(0.250, abs=1e-3)
    assert exc.budget_ms == 250
    assert "250 ms" in str(exc)
    assert all(e.cancelled == 1 for e in experts)


def test_async_experts_run_in_parallel():
    experts = [SleepyExpert(f"s{i}", delay_s=0.050, value=f"v{i}") for i in range(8)]
    moe = _moe(experts, budget_ms=1000)

    async def main():
        t0 = trio.current_time()
        response = await moe.run("question")
        return response, trio.current_time() - t0

    response, elapsed = _mock_run(main)
    assert elapsed == pytest.approx(0.050, abs=1e-3)
    assert all(e.finished == 1 for e in experts)
    assert response.mix.topk == 8 and response.mix.drop_count == 0
    assert response.mix.lat_total_ms == pytest.approx(50.0, abs=1e-3)


def test_failure_does_not_spoil_the_others():
    moe = _moe(
        [FailingExpert("broken", message="nope"), SleepyExpert("ok", delay_s=0.01, value="fine")],
        weights={"broken": 5.0},
    )

    async def main():
        return await moe.run("question")

    response = _mock_run(main)
    assert response.value.as_text() == "fine"
    assert response.mix.drop_count == 0  # a failure is not a drop
    assert dict(response.mix.failures) == {"broken": "failed: RuntimeError: nope"}


def test_cancel_from_inside_trio_stops_at_once():
    token = CancelToken()
    moe = _moe([HangingExpert("h")], budget_ms=5000)

    async def main():
        async def cancel_later():
            await trio.sleep(0.030)
            token.cancel("user pressed stop")

        t0 = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(cancel_later)
            with pytest.raises(Cancelled, match="user pressed stop"):
                await moe.run("question", cancel=token)
        return trio.current_time() - t0

    assert _mock_run(main) == pytest.approx(0.030, abs=1e-3)


def test_already_cancelled_token_calls_no_expert():
    token = CancelToken()
    token.cancel("too late")
    expert = SleepyExpert("s", delay_s=0.01)
    moe = _moe([expert])

    async def main():
        await moe.run("question", cancel=token)

    with pytest.raises(Cancelled):
        _mock_run(main)
    assert expert.calls == 0


# -- worker threads on the real clock -----------------------------------------------------------------
def test_sync_experts_run_in_parallel_worker_threads():
    # Each call waits at the barrier until all four are in it: one after the other, the first
    # would wait out the barrier's timeout and fail, and so would the others.
    meeting = threading.Barrier(4, timeout=10.0)
    experts = [WaitingExpert(f"b{i}", value=f"v{i}", wait=meeting.wait) for i in range(4)]
    moe = _moe(experts, budget_ms=30_000)

    async def main():
        return await moe.run("question")

    response = trio.run(main)
    assert {c["status"] for c in _calls(response).values()} == {"ok"}, _calls(response)
    ids = [tid for e in experts for tid in e.thread_ids]
    assert len(ids) == 4 and len(set(ids)) == 4
    assert threading.get_ident() not in ids
    assert response.mix.drop_count == 0


def test_sync_expert_ignoring_cancellation_does_not_hold_the_response():
    release = threading.Event()
    stubborn = WaitingExpert("stubborn", value="late", wait=lambda: release.wait(60.0))
    quick = ConstantExpert("quick", value="quick")
    moe = _moe([stubborn, quick], budget_ms=200)

    async def main():
        return await moe.run("question")

    try:
        t0 = time.perf_counter()
        response = trio.run(main)
        assert time.perf_counter() - t0 >= 0.19  # it waited for the stubborn expert until the deadline...
        assert not stubborn.done.is_set()  # ...and not a moment for the thread, still blocked
    finally:
        release.set()
    assert response.value.as_text() == "quick"
    assert _calls(response)["stubborn"]["status"] == "timed_out"


def test_sync_expert_alone_and_stuck_gives_deadline_exceeded_promptly():
    moe = _moe([BlockingExpert("stubborn", seconds=30.0)], budget_ms=200)
    ended_at = []

    async def main():
        try:
            await moe.run("question")
        finally:
            ended_at.append(trio.current_time())

    # The mock clock reaches the deadline as soon as the request only waits on the stuck thread:
    # the request ends exactly at its budget, and the run does not wait the thread's 30 s out.
    t0 = time.perf_counter()
    with pytest.raises(DeadlineExceeded):
        trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert ended_at == [pytest.approx(0.2, abs=0.01)]
    assert time.perf_counter() - t0 < 15.0


def test_sync_expert_polling_its_token_sees_the_deadline():
    polite = BlockingExpert("polite", seconds=30.0, honour_cancel=True)
    quick = ConstantExpert("quick", value="quick")
    moe = _moe([polite, quick], budget_ms=200)

    async def main():
        return await moe.run("question")

    t0 = time.perf_counter()
    response = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
    assert response.value.as_text() == "quick"
    assert polite.done.wait(15.0), "the expert never saw its token cancelled"
    assert time.perf_counter() - t0 < 15.0, "the expert slept its 30 s out instead of returning at the cancel"
    assert polite.cancel_seen == [True]


def test_cancel_token_from_another_thread_stops_hanging_experts():
    token = CancelToken()
    experts = [HangingExpert("h1"), HangingExpert("h2"), BlockingExpert("b", seconds=60.0, honour_cancel=True)]
    moe = _moe(experts, budget_ms=10_000)
    timer = threading.Timer(0.1, token.cancel, args=("caller gave up",))

    async def main():
        timer.start()
        await moe.run("question", cancel=token)

    t0 = time.perf_counter()
    try:
        with pytest.raises(Cancelled, match="caller gave up"):
            trio.run(main)
    finally:
        timer.cancel()
    elapsed = time.perf_counter() - t0
    assert elapsed < 5.0, f"cancel took {elapsed:.2f} s to stop the request"  # half its budget
    assert experts[2].done.wait(30.0), "the blocking expert did not return at the cancel"  # it would at 60 s
    assert experts[2].cancel_seen == [True]
    trace = moe.traces.recent(1)[0]
    assert trace["error"].startswith("Cancelled")
    assert {c["status"] for c in _calls(trace).values()} == {"cancelled"}


# -- budgets ---------------------------------------------------------------------------------------------
def test_cost_budget_shrinks_top_k():
    cheap1 = ConstantExpert("cheap1", value="a", cost_units=1)
    cheap2 = ConstantExpert("cheap2", value="a", cost_units=1)
    dear = ConstantExpert("dear", value="b", cost_units=5)
    moe = _moe([cheap1, cheap2, dear], k=3, cost_budget=2.5, weights={"dear": 1.0})

    async def main():
        return await moe.run("question")

    response = _mock_run(main)
    assert (cheap1.calls, cheap2.calls, dear.calls) == (1, 1, 0)
    calls = _calls(response)
    assert calls["dear"]["status"] == "dropped"
    assert "cost budget" in calls["dear"]["cause"]
    assert response.mix.drop_count == 1
    assert response.mix.cost_units == pytest.approx(2.0)
    assert response.value.as_text() == "a"


def test_per_request_cost_budget_overrides_the_config():
    experts = [ConstantExpert("c1", cost_units=1), ConstantExpert("c2", cost_units=1)]
    moe = _moe(experts, cost_budget=100)

    async def main():
        return await moe.run("question", cost_budget=1.0)

    response = _mock_run(main)
    assert sum(e.calls for e in experts) == 1
    assert response.mix.drop_count == 1


def test_budget_exceeded_when_even_the_cheapest_is_too_dear():
    experts = [ConstantExpert("c1", cost_units=3), ConstantExpert("c2", cost_units=4)]
    moe = _moe(experts, cost_budget=2.0)

    async def main():
        await moe.run("question")

    with pytest.raises(BudgetExceeded) as info:
        _mock_run(main)
    assert info.value.budget_units == 2.0
    assert info.value.cheapest_units == 3.0
    assert "cost_budget" in str(info.value)
    assert sum(e.calls for e in experts) == 0


def test_observed_latency_drops_experts_that_would_overrun():
    fast = SleepyExpert("fast", delay_s=0.010, value="fast")
    slow = SleepyExpert("slow", delay_s=0.200, value="slow")
    moe = _moe([fast, slow], budget_ms=1000, weights={"slow": 1.0})

    async def main():
        first = await moe.run("question")
        t0 = trio.current_time()
        second = await moe.run("question", budget_ms=100)
        return first, second, trio.current_time() - t0

    first, second, elapsed = _mock_run(main)
    assert first.value.as_text() == "slow"  # both ran: the slow one has the better gate
    # 200 ms observed; dropping it relaxed the estimate one step (alpha 0.2) towards the 100 ms
    # left, so that an expert which got faster is tried again eventually.
    assert moe.expert_stats.latency_ms(moe.routers["r"].handle.experts[1].id) == pytest.approx(180.0, abs=1e-3)
    assert (fast.calls, slow.calls) == (2, 1)
    assert second.value.as_text() == "fast"
    assert elapsed == pytest.approx(0.010, abs=1e-3)
    calls = _calls(second)
    assert calls["slow"]["status"] == "dropped"
    assert calls["slow"]["cause"].startswith("deadline")
    assert second.mix.drop_count == 1


def test_when_every_pick_would_overrun_the_fastest_is_still_tried():
    a = SleepyExpert("a", delay_s=0.050, value="a")
    b = SleepyExpert("b", delay_s=0.300, value="b")
    moe = _moe([a, b], budget_ms=1000)

    async def main():
        await moe.run("question")  # observe both
        return await moe.run("question", budget_ms=40)

    with pytest.raises(DeadlineExceeded):
        _mock_run(main)
    assert (a.calls, b.calls) == (2, 1)


def test_trace_is_json_serialisable_after_faults():
    moe = _moe([HangingExpert("h"), FailingExpert("f"), SleepyExpert("s", delay_s=0.01)], budget_ms=50)

    async def main():
        return await moe.run("question")

    response = _mock_run(main)
    text = json.dumps(response.trace)
    assert "timed_out" in text and "failed" in text
    json.dumps(response.to_jsonable())


def test_max_concurrency_limits_a_sync_expert_across_requests():
    single = BlockingExpert("single", seconds=0.1, max_concurrency=1)
    moe = _moe([single], budget_ms=5000)

    async def main():
        async with trio.open_nursery() as nursery:
            for _ in range(3):
                nursery.start_soon(moe.run, "question")

    t0 = time.perf_counter()
    trio.run(main)
    elapsed = time.perf_counter() - t0
    assert single.calls == 3
    assert elapsed >= 0.29, f"3 calls of a max_concurrency=1 expert took {elapsed:.2f} s: they overlapped"


def test_zero_budget_is_deadline_exceeded_without_calling_experts():
    expert = ConstantExpert("c")
    moe = _moe([expert])

    async def main():
        await moe.run("question", budget_ms=0)

    with pytest.raises(DeadlineExceeded, match="0 ms"):
        _mock_run(main)
    assert expert.calls == 0


def test_an_expert_returning_garbage_is_a_failure_not_a_crash():
    async def garbage(x, ctx):
        return object()

    weird = SimpleNamespace(name="weird", can_handle=lambda task: True, infer=garbage)
    moe = _moe([weird, ConstantExpert("sane", value="sane")], weights={"weird": 1.0})

    async def main():
        return await moe.run("question")

    response = _mock_run(main)
    assert response.value.as_text() == "sane"
    cause = _calls(response)["weird"]["cause"]
    assert cause.startswith("InvalidInput") and "object" in cause


def test_sync_infer_returning_a_coroutine_is_reported():
    async def real(x, ctx):
        return "never"

    def wrapper(x, ctx):
        return real(x, ctx)

    confused = SimpleNamespace(name="confused", can_handle=lambda task: True, infer=wrapper)
    moe = _moe([confused], budget_ms=2000)

    async def main():
        await moe.run("question")

    with pytest.raises(NoExpertSelected) as info:
        trio.run(main)
    cause = info.value.failures["confused"]
    assert "declare it `async def`" in cause
    assert "InputData" not in cause  # one readable line, not a dump of the request


def test_sync_expert_can_read_its_remaining_budget_in_its_thread():
    seen = {}

    def timed(x, ctx):
        seen["before"] = ctx.remaining_ms()
        time.sleep(0.05)
        seen["after"] = ctx.remaining_ms()
        seen["expired"] = ctx.expired()
        return "done"

    expert = SimpleNamespace(name="timed", can_handle=lambda task: True, infer=timed)
    moe = _moe([expert], budget_ms=500)

    async def main():
        return await moe.run("question")

    assert trio.run(main).value.as_text() == "done"
    assert 400 < seen["before"] <= 500
    assert 30 <= seen["before"] - seen["after"] < 200
    assert seen["expired"] is False


def test_per_request_k_overrides_the_router():
    experts = [SleepyExpert(f"s{i}", delay_s=0.001) for i in range(3)]
    moe = _moe(experts, k=3)

    async def main():
        one = await moe.run("question", k=1)
        two = await moe.run("question", k=2)
        return one, two

    one, two = _mock_run(main)
    assert one.mix.topk == 1 and two.mix.topk == 2
    assert sum(e.calls for e in experts) == 3


def test_max_concurrency_bounds_the_expert_across_routers():
    single = BlockingExpert("single", seconds=0.1, max_concurrency=1)
    moe = HiMoE(
        experts=[single],
        entry_points=False,
        environ={},
        config={"himoe": {"budget_ms": 5000}, "routers": {"a": {"experts": ["single"]}, "b": {"experts": ["single"]}}},
    )

    async def main():
        async with trio.open_nursery() as nursery:
            nursery.start_soon(partial(moe.run, "question", router="a"))
            nursery.start_soon(partial(moe.run, "question", router="b"))

    t0 = time.perf_counter()
    trio.run(main)
    elapsed = time.perf_counter() - t0
    assert single.calls == 2
    assert elapsed >= 0.19, f"max_concurrency=1 expert ran twice at once through two routers ({elapsed:.2f} s)"
