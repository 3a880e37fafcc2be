"""The process stays healthy under faults: no trio task outlives its request, worker threads stay
under the limiters' bound however many sync experts hang, and memory stays flat over thousands
of faulty requests."""

from __future__ import annotations

import gc
import threading
import tracemalloc

import pytest
import trio
import trio.testing

from himoe_core import Cancelled, CancelToken, HiMoE, MoeError
from himoe_core.testing import (
    BlockingExpert,
    ConstantExpert,
    FailingExpert,
    FlakyExpert,
    HangingExpert,
    MalformedExpert,
    SleepyExpert,
    StuckThreadExpert,
)


def make_moe(
    experts, *, budget_ms=50, k=None, trace_capacity=10_000, state=None, extra_routers=None, orchestrator=None
) -> HiMoE:
    routers = {
        "r": {
            "kind": "static",
            "experts": [e.name for e in experts],
            "k": k or len(experts),
            "aggregator": "best_score",
        }
    }
    routers.update(extra_routers or {})
    config = {
        "himoe": {"budget_ms": budget_ms, "trace_capacity": trace_capacity},
        "routers": routers,
        "state": state or {"enabled": False},
    }
    if orchestrator:
        config["orchestrator"] = orchestrator
    return HiMoE(experts=experts, entry_points=False, environ={}, config=config)


def async_faults():
    return [
        ConstantExpert("good", value="good"),
        HangingExpert("hang"),
        FailingExpert("fail"),
        FlakyExpert("flaky", failure_rate=0.5, seed=1),
        SleepyExpert("slow", delay_s=1.0),
        MalformedExpert("wrong", "wrong_type"),
        MalformedExpert("nan", "nan_json"),
        MalformedExpert("big", "huge_text", size=2_000),
    ]


def tasks_living() -> int:
    return trio.lowlevel.current_statistics().tasks_living


async def serve(moe: HiMoE, n: int, *, concurrency: int = 50, **options) -> dict[str, int]:
    """Serve `n` requests, `concurrency` at a time; count answers and errors by type."""
    counts: dict[str, int] = {}
    limiter = trio.CapacityLimiter(concurrency)

    async def one(i: int) -> None:
        async with limiter:
            try:
                await moe.run(f"request {i}", **options)
                kind = "ok"
            except MoeError as exc:
                kind = type(exc).__name__
        counts[kind] = counts.get(kind, 0) + 1

    async with trio.open_nursery() as nursery:
        for i in range(n):
            nursery.start_soon(one, i)
    return counts


# -- tasks -----------------------------------------------------------------------------------------------------
def test_no_task_outlives_its_request_under_faults():
    moe = make_moe(async_faults())

    async def main():
        before = tasks_living()
        counts = await serve(moe, 300)
        assert counts == {"ok": 300}
        assert tasks_living() == before
        # cancelled by the caller's own scope, mid-flight
        for _ in range(20):
            with trio.move_on_after(0.010):
                await moe.run("question")
        assert tasks_living() == before
        # cancelled through the token
        token = CancelToken()

        async def cancel_soon():
            await trio.sleep(0.005)
            token.cancel("stop")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(cancel_soon)
            with pytest.raises(Cancelled):
                await moe.run("question", cancel=token)
        assert tasks_living() == before

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_every_expert_failing_or_hanging_leaves_no_task_behind():
    moe = make_moe([HangingExpert("h1"), HangingExpert("h2"), FailingExpert("f")])

    async def main():
        before = tasks_living()
        counts = await serve(moe, 200)
        assert counts == {"DeadlineExceeded": 200}
        assert tasks_living() == before

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_shadow_routers_end_by_the_request_deadline():
    experts = [ConstantExpert("good"), HangingExpert("hang")]
    moe_options = {
        "experts": experts,
        "entry_points": False,
        "environ": {},
        "config": {
            "himoe": {"budget_ms": 100},
            "state": {"enabled": False},
            "routers": {"main": {"experts": ["good"]}, "shadow": {"experts": ["hang", "good"], "k": 2}},
            "orchestrator": {"kind": "rules", "default": "main", "shadows": ["shadow"]},
        },
    }

    async def main():
        before = tasks_living()
        async with HiMoE.open(**moe_options) as moe:
            inside = tasks_living()
            for i in range(50):
                response = await moe.run(f"q{i}")
                assert response.value.as_text() == "ok"
            assert tasks_living() > inside, "the shadows run on after the responses"
            await trio.sleep(0.101)  # one budget later every shadow has ended
            assert tasks_living() == inside
            trace = moe.traces.get(response.trace_id)
            assert [s["status"] for s in trace["shadows"]] == ["ok"]
        assert tasks_living() == before

    trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def test_run_sync_leaves_no_task_in_its_background_loop():
    moe = make_moe(async_faults(), budget_ms=20)

    async def living() -> int:
        return tasks_living()

    try:
        moe.run_sync("warm up")
        before = moe._loop.call(living)
        for i in range(30):
            moe.run_sync(f"request {i}")
        assert moe._loop.call(living) == before
    finally:
        moe.close()


# -- threads ---------------------------------------------------------------------------------------------------
def test_hanging_sync_experts_never_hold_more_threads_than_their_limiters():
    stuck = [StuckThreadExpert(f"stuck{i}", max_concurrency=3) for i in range(3)]
    deaf = BlockingExpert("deaf", seconds=60.0, max_concurrency=2)  # sleeps without checking its token
    experts = [*stuck, deaf, ConstantExpert("good", value="good")]
    bound = sum(e.max_concurrency for e in (*stuck, deaf))
    baseline = threading.active_count()
    moe = make_moe(experts, budget_ms=100)
    try:

        async def main():
            counts = await serve(moe, 400, concurrency=100)
            assert counts == {"ok": 400}, "the healthy expert answered every request, stuck threads or not"
            return threading.active_count()

        # The mock clock reaches each deadline only when every task waits on a stuck thread, so the
        # healthy expert always answers first, however busy the machine is.
        during = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
        assert during - baseline <= bound + 2, (during, baseline, bound)
        assert [e.peak_running for e in stuck] == [3, 3, 3]
        assert all(e.started == 3 for e in stuck), "calls beyond the limit waited for a thread, and were cut"
        assert deaf.calls == 2
        # a second trio run (a new loop: fresh limiters) cannot grow the stuck threads past one more bound
        during = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
        assert during - baseline <= 2 * bound + 2
    finally:
        for e in stuck:
            e.release()
        moe.close()


# -- memory ---------------------------------------------------------------------------------------------------
# tracemalloc starts before the warm-up: objects allocated before it (the traces kept, the caches)
# would otherwise look like growth as they are replaced by traced ones. The heap is sampled every
# `chunk` requests and the peaks of the first and last thirds compared: trio prunes its deadline
# heap lazily, so single samples swing by ~100 KiB either way; a leak grows the peaks steadily
# (one small dict per request: ~360 KiB between the thirds, against a 128 KiB bound).
def heap_growth(
    moe: HiMoE, experts, *, warm_up: int, measured: int, chunk: int = 250, **options
) -> tuple[int, dict[str, int]]:
    flaky = [e for e in experts if isinstance(e, FlakyExpert)]

    def sample() -> int:
        for e in flaky:
            e.outcomes.clear()  # the test expert's own record, not the engine's memory
        moe.trainer.flush()
        gc.collect()
        return tracemalloc.get_traced_memory()[0]

    async def main():
        tracemalloc.start()
        try:
            await serve(moe, warm_up, **options)
            samples, counts = [], {}
            for _ in range(measured // chunk):
                for kind, n in (await serve(moe, chunk, **options)).items():
                    counts[kind] = counts.get(kind, 0) + n
                samples.append(sample())
        finally:
            tracemalloc.stop()
        third = max(1, len(samples) // 3)
        return max(samples[-third:]) - max(samples[:third]), counts

    return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


@pytest.mark.parametrize("state", [False, True], ids=["memory-only", "state-file"])
def test_memory_stays_flat_over_thousands_of_faulty_requests(tmp_path, state):
    experts = async_faults()
    moe = make_moe(
        experts,
        budget_ms=50,
        trace_capacity=100,
        state={"path": str(tmp_path / "state.sqlite3"), "flush_every": 64} if state else None,
    )
    try:
        growth, counts = heap_growth(moe, experts, warm_up=1000, measured=3000)
    finally:
        moe.close()
    assert counts == {"ok": 3000}
    assert growth < 128 * 1024, f"the Python heap grew by {growth / 1024:.0f} KiB over 2000 requests"
    assert len(moe.traces) == 100


def test_failed_requests_keep_memory_flat_too():
    experts = [HangingExpert("h"), FailingExpert("f"), MalformedExpert("m", "nan_json")]
    moe = make_moe(experts, budget_ms=20, trace_capacity=50)
    growth, counts = heap_growth(moe, experts, warm_up=500, measured=3000)
    assert set(counts) <= {"DeadlineExceeded", "NoExpertSelected"} and sum(counts.values()) == 3000
    assert growth < 128 * 1024, f"the Python heap grew by {growth / 1024:.0f} KiB over 2000 failed requests"


# -- reference cycles ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("case", ["an expert raises", "every expert hangs"])
def test_failed_requests_leave_no_reference_cycles_behind(case):
    # An exception whose traceback keeps a frame whose locals keep the exception is a cycle that
    # only a full garbage collection frees; under load those collections stop the event loop.
    experts = (
        [FailingExpert("broken"), ConstantExpert("good")]
        if case == "an expert raises"
        else [HangingExpert("stuck"), HangingExpert("stuck_too")]
    )
    moe = make_moe(experts, budget_ms=20)

    async def burst(n: int) -> None:
        async def one() -> None:
            try:
                await moe.run("hello")
            except MoeError:
                pass

        async with trio.open_nursery() as nursery:
            for _ in range(n):
                nursery.start_soon(one)

    def run(n: int) -> None:
        trio.run(burst, n, clock=trio.testing.MockClock(autojump_threshold=0))

    try:
        run(moe.traces.window + 50)  # past the trace store's window: older requests' objects are let go
        gc.collect()
        gc.disable()
        try:
            run(500)
            freed = gc.collect()
        finally:
            gc.enable()
        assert freed < 500, f"{freed} objects in reference cycles after 500 requests ({case})"
    finally:
        moe.close()
