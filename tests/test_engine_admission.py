"""`[himoe] max_in_flight`: at most N requests run at once per trio run; the others wait their
turn (first come first served until the queue stops draining in time, then newest first), never
past their own deadline."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from himoe_core import Cancelled, CancelToken, ConfigError, DeadlineExceeded, HiMoE, NoExpertSelected
from himoe_core.testing import FailingExpert, SleepyExpert


def _moe(max_in_flight: int, *, budget_ms: float = 100.0, experts=None) -> HiMoE:
    experts = experts or [SleepyExpert("slow", delay_s=0.030, value="done")]
    return HiMoE(experts=experts, entry_points=False, environ={},
                 config={"himoe": {"budget_ms": budget_ms, "max_in_flight": max_in_flight},
                         "routers": {"r": {"kind": "static", "experts": ["*"], "k": 1}},
                         "state": {"enabled": False}})


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
            with pytest.raises(DeadlineExceeded, match=r"it could not start in time: all 1 request slots "
                                                       r"\(\[himoe\] max_in_flight\) stayed busy — the process is overloaded"):
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
        threads = [threading.Thread(target=lambda: results.append(moe.run_sync("x").value.as_text()))
                   for _ in range(3)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert results == ["done"] * 3
        assert time.monotonic() - started >= 0.150, "the three requests ran one after the other"
    finally:
        moe.close()


@pytest.mark.parametrize("value, message", [
    (-1, r"himoe\.max_in_flight: expected an integer >= 0, got -1"),
    ("8", r"himoe\.max_in_flight: expected an integer, got '8'"),
])
def test_a_bad_limit_is_a_config_error_naming_the_key(value, message):
    with pytest.raises(ConfigError, match=message):
        _moe(value)


# -- inside HiMoE.open(): one reaper task sends the waiters away -------------------------------------
def _open_options(max_in_flight: int, budget_ms: float = 100.0) -> dict:
    return dict(experts=[SleepyExpert("slow", delay_s=0.030, value="done")], entry_points=False, environ={},
                config={"himoe": {"budget_ms": budget_ms, "max_in_flight": max_in_flight},
                        "routers": {"r": {"kind": "static", "experts": ["*"], "k": 1}},
                        "state": {"enabled": False}})


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
