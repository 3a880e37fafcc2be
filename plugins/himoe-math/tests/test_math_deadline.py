"""Runaway work stops at the request's deadline: the worker process is killed and replaced."""

from __future__ import annotations

import os
import threading
import time

import pytest
import trio
from himoe_math.compute.sympy_worker_pool import SympyWorkerPool
from himoe_math.experts.math.math_sympy import MathSympy

from himoe_core import Cancelled, CancelToken, Context, DeadlineExceeded, InputData, InvalidInput

RUNAWAY = "math: integrate exp(x**7)*sin(x**5)"  # sympy works on this for minutes
# A call cut at its deadline ends within this: far sooner than the runaway work would, and a
# bound no busy machine reaches (the deadline itself is checked by the error and the killed worker).
CUT_WITHIN_S = 10.0


@pytest.fixture
def expert():
    expert = MathSympy(workers=1)
    assert expert.warm_up(wait_s=120)
    yield expert
    expert.close()


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def infer(expert: MathSympy, text: str, budget_ms: float, cancel: CancelToken | None = None):
    return trio.run(expert.infer, InputData.text(text), Context.start(budget_ms, cancel=cancel))


def test_math_runaway_integral_stops_at_the_deadline_and_the_worker_is_replaced(expert):
    pool = expert.worker_pool()
    [old_pid] = pool.worker_pids()
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded) as info:
        infer(expert, RUNAWAY, 200)
    assert time.monotonic() - started < CUT_WITHIN_S
    message = str(info.value)
    assert "200 ms budget" in message and "worker process was killed" in message
    assert not alive(old_pid)  # nothing keeps burning CPU
    assert pool.replaced == 1
    # The replacement serves the next request.
    out = infer(expert, "math: solve x**2 - 4 = 0", 60_000)
    assert out.value.as_json()["solutions"] == ["-2", "2"]
    assert old_pid not in pool.worker_pids()


def test_math_trio_cancellation_kills_the_computation(expert):
    pool = expert.worker_pool()
    [old_pid] = pool.worker_pids()

    async def main() -> bool:
        with trio.move_on_after(0.2) as scope:
            await expert.infer(InputData.text(RUNAWAY), Context.start(60_000))
        return scope.cancelled_caught

    started = time.monotonic()
    assert trio.run(main) is True
    assert time.monotonic() - started < CUT_WITHIN_S
    assert not alive(old_pid)
    assert pool.replaced == 1
    assert infer(expert, "math: expand (x+1)**3", 60_000).value.as_json()["result"] == "x**3 + 3*x**2 + 3*x + 1"


def test_math_cancel_token_stops_the_computation(expert):
    token = CancelToken()
    threading.Timer(0.2, token.cancel, args=("user pressed stop",)).start()
    started = time.monotonic()
    with pytest.raises(Cancelled, match="user pressed stop"):
        infer(expert, RUNAWAY, 60_000, cancel=token)
    assert time.monotonic() - started < CUT_WITHIN_S
    assert expert.worker_pool().replaced == 1


def test_math_deadline_during_start_up_keeps_the_warming_worker():
    expert = MathSympy(workers=1)
    try:
        # "still starting" is said only by a call that gave up before the worker was ready
        with pytest.raises(DeadlineExceeded, match="still starting"):
            infer(expert, "math: 1 + 1", 50)
        pool = expert.worker_pool()
        assert pool.replaced == 0  # not killed: it goes on warming up for the next request
        assert pool.warm_up(wait_s=120)
        assert infer(expert, "math: 1 + 1", 10_000).value.as_json()["result"] == "2"
    finally:
        expert.close()


def test_math_busy_pool_gives_up_at_the_deadline(expert):
    results: dict[str, BaseException | None] = {}

    async def call(key: str, text: str, budget_ms: float) -> None:
        try:
            await expert.infer(InputData.text(text), Context.start(budget_ms))
            results[key] = None
        except Exception as exc:
            results[key] = exc

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(call, "runaway", RUNAWAY, 1500)
            await trio.sleep(0.1)
            nursery.start_soon(call, "waiting", "math: 1 + 1", 300)

    started = time.monotonic()
    trio.run(main)
    assert time.monotonic() - started < CUT_WITHIN_S
    assert isinstance(results["waiting"], DeadlineExceeded) and "busy" in str(results["waiting"])
    assert isinstance(results["runaway"], DeadlineExceeded)


@pytest.mark.parametrize(
    "text",
    ["math: evaluate 9**9**9**9", "math: expand (x+1)**100000", "math: 2**2**2**2**2", "math: factorial(10**6)"],
)
def test_math_explosive_requests_are_refused_at_once(expert, text, monkeypatch):
    def no_worker(*args, **kwargs):
        raise AssertionError("a sympy worker was asked to compute a request the parser should refuse")

    monkeypatch.setattr(expert.worker_pool(), "run", no_worker)  # refused before any worker computes
    with pytest.raises(InvalidInput, match="too large"):
        infer(expert, text, 60_000)


def test_math_heavy_expansion_is_cut_by_the_deadline(expert):
    started = time.monotonic()
    with pytest.raises((DeadlineExceeded, InvalidInput)) as info:
        infer(expert, "math: expand (x+y+z)**200", 500)  # accepted by the parser, far too big for 500 ms
    assert time.monotonic() - started < CUT_WITHIN_S
    assert isinstance(info.value, DeadlineExceeded)


def test_math_memory_limit_retires_the_worker():
    pool = SympyWorkerPool(max_workers=1, memory_limit_mb=16)
    try:
        assert pool.warm_up(wait_s=120)
        [old_pid] = pool.worker_pids()
        with pytest.raises(InvalidInput, match="16 MB memory limit"):
            pool.run("math: expand (a+b+c+d+f+g)**25", None, deadline=time.monotonic() + 60, budget_ms=60_000)
        assert pool.replaced == 1 and old_pid not in pool.worker_pids()
        assert pool.run("math: 2 + 2", None, deadline=time.monotonic() + 60, budget_ms=60_000)["result"] == "4"
    finally:
        pool.close()


def test_math_worker_whose_parent_left_exits_quietly(capfd):
    """A worker that finishes starting after its parent exited (a CLI request cut at its
    deadline) must not print a BrokenPipeError traceback onto the user's terminal."""
    import multiprocessing

    from himoe_math.compute.worker_main import worker_main

    parent_end, child_end = multiprocessing.Pipe(duplex=True)
    parent_end.close()
    worker_main(child_end, None, 1000)  # its "ready" message has no reader: it returns
    assert capfd.readouterr().err == ""
