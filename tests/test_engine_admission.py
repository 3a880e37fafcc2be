"""`[himoe] max_in_flight`: at most N requests run at once per trio run; the others wait their
turn (first come first served until the queue stops draining in time, then newest first), never
past their own deadline."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from himoe_core import (
    Cancelled,
    CancelToken,
    ConfigError,
    DeadlineExceeded,
    HiMoE,
    NoExpertSelected,
    hookimpl,
)
from himoe_core._engine.lag_limit import LagLimit
from himoe_core._engine.request_slots import RequestSlots
from himoe_core.routing import BaseRouter
from himoe_core.testing import FailingExpert, SleepyExpert


def _moe(max_in_flight: int, *, budget_ms: float = 100.0, experts=None) -> HiMoE:
    experts = experts or [SleepyExpert("slow", delay_s=0.030, value="done")]
    return HiMoE(
        experts=experts,
        entry_points=False,
        environ={},
        config={
            "himoe": {"budget_ms": budget_ms, "max_in_flight": max_in_flight},
            "routers": {"r": {"kind": "static", "experts": ["*"], "k": 1}},
            "state": {"enabled": False},
        },
    )


async def _burst(moe: HiMoE, n: int, **options) -> list[tuple[float, str]]:
    """n requests started at once: (time it returned, "ok" or the error's type), in start order."""
    ended: list[tuple[float, str] | None] = [None] * n

    async def one(i: int) -> None:
        try:
            await moe.run(f"request {i}", **options)
            outcome = "ok"
        except (DeadlineExceeded, Cancelled) as exc:
            outcome = type(exc).__name__
        ended[i] = (round(trio.current_time() * 1000), outcome)

    async with trio.open_nursery() as nursery:
        for i in range(n):
            nursery.start_soon(one, i)
            await trio.sleep(1e-6)  # a fixed arrival order (trio may run a batch in any order)
    return ended


def _mock_run(fn, *args):
    return trio.run(fn, *args, clock=trio.testing.MockClock(autojump_threshold=0))


def test_requests_beyond_the_limit_wait_their_turn_in_arrival_order():
    moe = _moe(2)
    assert _mock_run(_burst, moe, 5) == [(30, "ok"), (30, "ok"), (60, "ok"), (60, "ok"), (90, "ok")]


def test_once_the_oldest_waiter_has_waited_half_its_budget_the_newest_goes_first():
    moe = _moe(1)  # 30 ms per request, 100 ms budget: a waiter's halfway point is 50 ms
    # 0 runs 0–30; 1 (FIFO, at 30 < 50) runs 30–60; at 60 the oldest waiter is past its halfway
    # point, so the newest (3) runs 60–90, and 2 gives up at its deadline.
    assert _mock_run(_burst, moe, 4) == [(30, "ok"), (60, "ok"), (100, "DeadlineExceeded"), (90, "ok")]


def test_without_a_limit_every_request_runs_at_once():
    moe = _moe(0)
    assert _mock_run(_burst, moe, 5) == [(30, "ok")] * 5


def test_a_request_that_cannot_start_in_time_fails_exactly_at_its_deadline_saying_why():
    moe = _moe(1, budget_ms=50.0)
    errors = []

    async def main():
        ended = await _burst(moe, 3)
        try:
            await moe.run("alone")  # the slot is free again
        except DeadlineExceeded as exc:  # pragma: no cover - would be a leaked slot
            errors.append(exc)
        return ended

    # the first runs 0–30 ms; the second starts at 30 and is cut at its deadline (50); the third
    # never gets the slot and gives up at 50 too, having used no expert.
    assert _mock_run(main) == [(30, "ok"), (50, "DeadlineExceeded"), (50, "DeadlineExceeded")]
    assert not errors

    async def two():
        async with trio.open_nursery() as nursery:
            nursery.start_soon(moe.run, "first")
            await trio.sleep(1e-6)
            with pytest.raises(
                DeadlineExceeded,
                match=r"it could not start in time: all 1 request slots "
                r"\(\[himoe\] max_in_flight\) stayed busy — the process is overloaded",
            ):
                await moe.run("second", budget_ms=10)

    _mock_run(two)


def test_cancelling_a_waiting_request_stops_its_wait_at_once():
    moe = _moe(1)
    token = CancelToken()

    async def main():
        async with trio.open_nursery() as nursery:
            nursery.start_soon(moe.run, "holds the slot")
            await trio.sleep(1e-6)
            nursery.start_soon(_cancel_after, token, 0.005)
            started = trio.current_time()
            with pytest.raises(Cancelled):
                await moe.run("waits", cancel=token)
            return round((trio.current_time() - started) * 1000, 3)

    assert _mock_run(main) == 5.0


async def _cancel_after(token: CancelToken, seconds: float) -> None:
    await trio.sleep(seconds)
    token.cancel("the caller gave up")


def test_a_failed_request_gives_its_slot_back():
    moe = _moe(1, experts=[FailingExpert("broken")])

    async def main():
        for _ in range(3):
            with pytest.raises(NoExpertSelected):
                await moe.run("fails")
        return trio.current_time()

    assert _mock_run(main) == 0.0  # never waited for a slot left taken


def test_run_sync_callers_share_the_limit_of_its_loop():
    moe = _moe(1, budget_ms=10_000.0, experts=[SleepyExpert("slow", delay_s=0.050, value="done")])
    try:
        import threading
        import time

        results = []
        started = time.monotonic()
        threads = [threading.Thread(target=lambda: results.append(moe.run_sync("x").value.as_text())) for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results == ["done"] * 3
        assert time.monotonic() - started >= 0.150, "the three requests ran one after the other"
    finally:
        moe.close()


@pytest.mark.parametrize(
    "value, message",
    [
        (-1, r'himoe\.max_in_flight: expected "auto" or an integer >= 0 \(0: no limit\), got -1'),
        ("8", r'himoe\.max_in_flight: expected "auto" or an integer >= 0 \(0: no limit\), got \'8\''),
        (True, r'himoe\.max_in_flight: expected "auto" or an integer >= 0 \(0: no limit\), got True'),
    ],
)
def test_a_bad_limit_is_a_config_error_naming_the_key(value, message):
    with pytest.raises(ConfigError, match=message):
        _moe(value)


# -- inside HiMoE.open(): one reaper task sends the waiters away -------------------------------------
def _open_options(max_in_flight: int, budget_ms: float = 100.0) -> dict:
    return {
        "experts": [SleepyExpert("slow", delay_s=0.030, value="done")],
        "entry_points": False,
        "environ": {},
        "config": {
            "himoe": {"budget_ms": budget_ms, "max_in_flight": max_in_flight},
            "routers": {"r": {"kind": "static", "experts": ["*"], "k": 1}},
            "state": {"enabled": False},
        },
    }


def test_under_open_waiters_that_cannot_start_are_sent_away_just_before_their_deadline():
    async def main():
        async with HiMoE.open(**_open_options(1)) as moe:
            before = trio.lowlevel.current_statistics().tasks_living
            ended = await _burst(moe, 5)
            await trio.sleep(0.010)  # past every deadline the reaper was watching
            living = trio.lowlevel.current_statistics().tasks_living - before
        return ended, living

    ended, living = _mock_run(main)
    # 0 runs 0–30, 1 runs 30–60 (first come first served), then newest first: 4 runs 60–90 and 3
    # runs from 90 until its deadline cuts it at 100; 2 is sent away 2 ms (REAP_EARLY_S) before its
    # deadline — starting then could not finish — by the one reaper task, which ended once nobody
    # was left waiting.
    assert ended == [(30, "ok"), (60, "ok"), (98, "DeadlineExceeded"), (100, "DeadlineExceeded"), (90, "ok")]
    assert living == 0, "the reaper task outlived the waiters"


def test_under_open_a_waiter_cancelled_by_its_caller_leaves_the_queue_and_the_count_intact():
    async def main():
        async with HiMoE.open(**_open_options(1)) as moe:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(moe.run, "holds the slot 0–30 ms")
                await trio.sleep(1e-6)
                with trio.move_on_after(0.010):
                    await moe.run("gives up after 10 ms")
                late = await _burst(moe, 2)  # waits for the holder, then runs normally
            return late

    assert _mock_run(main) == [(60, "ok"), (90, "ok")]


# -- max_in_flight = "auto": the limit follows the event loop's lateness -----------------------------
def test_the_lag_limit_grows_fast_until_the_first_cut_then_by_one():
    limit = LagLimit(initial=64)
    assert limit.woke(0.001, now=0.000) == 80, "slow start: x1.25 while the loop keeps its timers"
    assert limit.woke(0.001, now=0.005) == 80, "one growth step per 20 ms at most"
    assert limit.woke(0.001, now=0.020) == 100
    assert limit.woke(0.002, now=0.045) == 100, "a timer 2 ms late neither grows nor cuts"
    assert limit.finished(0.010, now=0.050) == 80, "a request that ended 10 ms late cuts by 0.8"
    assert limit.finished(0.010, now=0.060) == 80, "no second cut while the first settles"
    assert limit.woke(0.001, now=0.140) == 80, "no growth while it settles (100 ms)"
    assert limit.woke(0.001, now=0.151) == 81, "after a cut, one more request per step"
    assert limit.woke(0.020, now=0.200) == 64, "a reaper 20 ms late cuts too"
    assert limit.finished(-0.050, now=0.400) == 64, "a request that ended in time changes nothing"


def test_the_lag_limit_stays_within_its_bounds():
    low = LagLimit(initial=4, minimum=4)
    assert low.finished(1.0, now=0.0) == 4
    high = LagLimit(initial=10, minimum=1, maximum=11)
    assert high.woke(0.0, now=0.0) == 11 and high.woke(0.0, now=1.0) == 11
    small = LagLimit(initial=2, minimum=1)
    assert small.woke(0.0, now=0.0) == 3, "a small limit grows by one at least"
    with pytest.raises(ValueError, match="1 <= minimum <= initial <= maximum, got 4, 2, 10"):
        LagLimit(initial=2, minimum=4, maximum=10)


def test_resizing_admits_waiters_at_once_and_a_shrink_waits_for_requests_to_end():
    async def main():
        slots = RequestSlots(1)
        admitted: list[int] = []

        async def one(i: int) -> None:
            if await slots.acquire(trio.current_time() + 1.0):
                admitted.append(i)

        async with trio.open_nursery() as nursery:
            for i in range(4):
                nursery.start_soon(one, i)
                await trio.sleep(0.001)
            assert admitted == [0] and slots.in_use == 1
            slots.resize(3)
            await trio.sleep(0.001)
            assert sorted(admitted) == [0, 1, 2] and slots.in_use == 3
            slots.resize(1)
            slots.release()
            slots.release()
            await trio.sleep(0.001)
            assert sorted(admitted) == [0, 1, 2], "no slot handed on while more than 1 are in use"
            slots.release()  # 1 in use, as many as the capacity: this slot goes to the last waiter
            await trio.sleep(0.001)
            assert sorted(admitted) == [0, 1, 2, 3] and slots.in_use == 1
            slots.release()
        assert slots.in_use == 0

    _mock_run(main)


class _RecordingLimit(LagLimit):
    """A LagLimit that starts at 2 and records what it is told."""

    seen: list[tuple[str, float]] = []

    def __init__(self) -> None:
        super().__init__(initial=2, minimum=1)

    def finished(self, lateness_s: float, now: float) -> int:
        self.seen.append(("finished", round(lateness_s * 1000, 3)))
        return super().finished(lateness_s, now)

    def woke(self, lag_s: float, now: float) -> int:
        self.seen.append(("woke", round(lag_s * 1000, 3)))
        return super().woke(lag_s, now)


def test_auto_tells_its_limit_when_each_admitted_request_ended_and_how_late_the_reaper_woke(monkeypatch):
    monkeypatch.setattr("himoe_core._engine.himoe.LagLimit", _RecordingLimit)
    _RecordingLimit.seen = []

    async def main():
        async with HiMoE.open(**_open_options("auto")) as moe:
            return await _burst(moe, 6)

    ended = _mock_run(main)
    assert [outcome for _, outcome in ended] == ["ok"] * 6
    finished = [value for kind, value in _RecordingLimit.seen if kind == "finished"]
    woke = [value for kind, value in _RecordingLimit.seen if kind == "woke"]
    # 30 ms requests, 100 ms budget: each ended 70 ms before its deadline, less the time it waited.
    assert len(finished) == 6 and all(-70.0 <= lateness < 0 for lateness in finished), finished
    assert woke and all(lag == 0.0 for lag in woke), "the mock clock never runs late"


def test_auto_grows_the_limit_when_the_experts_only_wait():
    async def main():
        options = _open_options("auto", budget_ms=1000.0)
        async with HiMoE.open(**options) as moe:
            ended = await _burst(moe, 400)
            capacity = moe._slots.get().capacity
        return ended, capacity

    ended, capacity = _mock_run(main)
    assert all(outcome == "ok" for _, outcome in ended)
    assert capacity > 64, "requests waited while the loop was idle: the limit should have grown"


def test_auto_outside_open_is_a_fixed_limit_of_64():
    # moe.run in the caller's own trio run, without HiMoE.open(): no reaper to measure the loop.
    moe = _moe("auto")

    async def main():
        ended = await _burst(moe, 65)
        slots = moe._slots.get()
        return ended, slots.capacity, slots.limit

    ended, capacity, limit = _mock_run(main)
    assert (capacity, limit) == (64, None)
    assert ended == [(30, "ok")] * 64 + [(60, "ok")], "the 65th waited for a slot"


def test_a_request_started_in_a_cancelled_scope_takes_no_slot_with_it():
    moe = _moe(1)

    async def main():
        with trio.CancelScope() as scope:
            scope.cancel()
            await moe.run("never starts")
        assert scope.cancelled_caught
        return await _burst(moe, 1)

    assert _mock_run(main) == [(30, "ok")], "the slot leaked: the next request could not start"


def test_the_reaper_grows_the_limit_only_while_requests_wait():
    limit = LagLimit(initial=1, minimum=1)

    async def main():
        async with trio.open_nursery() as nursery:
            slots = RequestSlots(1, nursery.start_soon, limit)

            async def holder() -> None:
                assert await slots.acquire(trio.current_time() + 1.0)
                await trio.sleep(0.004)  # gives the slot to the waiter before the reaper's 5 ms replan
                slots.release()

            nursery.start_soon(holder)
            await trio.sleep(0.001)
            assert await slots.acquire(trio.current_time() + 0.050)
            slots.release()
            await trio.sleep(0.1)
        return slots.capacity

    assert _mock_run(main) == 1, "the limit grew with nobody waiting"


class _SlowRouter(BaseRouter):
    """A router kind with its own fan-out, which ignores the deadline: the engine holds it to the
    deadline from outside, a few milliseconds later by design."""

    kind = "ignores-the-deadline"

    async def call_experts(self, input, picks, ctx):
        await trio.sleep_forever()


class _SlowRouterPlugin:
    @hookimpl
    def register_routers(self, register):
        register("ignores-the-deadline", _SlowRouter)


def test_auto_does_not_read_a_custom_routers_grace_as_the_loop_running_late():
    options = _open_options("auto")
    options["plugins"] = [_SlowRouterPlugin()]
    options["config"]["routers"]["r"]["kind"] = "ignores-the-deadline"

    async def main():
        async with HiMoE.open(**options) as moe:
            for _ in range(5):
                ended = await _burst(moe, 100)
                assert {outcome for _, outcome in ended} == {"DeadlineExceeded"}
            return moe._slots.get().capacity

    assert _mock_run(main) >= 64, "requests cut ROUTER_GRACE_S after their deadline cut the limit"
