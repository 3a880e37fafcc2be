"""Context: immutable, one shared deadline, validated budgets, trio's clock inside a trio run."""

import math
import time

import attrs
import numpy as np
import pytest
import trio
import trio.testing

from himoe_core import CancelToken, Context, InvalidInput
from himoe_core.routing import Memory


class FakeClock:
    """A hand-driven clock (seconds)."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def mock_clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0)


# -- start and validation --------------------------------------------------------------------------
def test_start_fixes_the_deadline_budget_from_now():
    clock = FakeClock(50.0)
    ctx = Context.start(250, clock=clock)
    assert ctx.budget_ms == 250.0
    assert ctx.deadline == pytest.approx(50.25)
    assert ctx.remaining_ms() == 250.0
    clock.now = 50.1
    assert ctx.remaining_ms() == 150.0
    assert ctx.elapsed_ms() == 100.0
    assert not ctx.expired()
    clock.now = 50.25
    assert ctx.expired()
    clock.now = 60.0
    assert ctx.remaining_ms() == 0.0  # never negative


@pytest.mark.parametrize("bad", [-1, -0.001, float("nan"), "100", None, True])
def test_start_refuses_bad_budgets_naming_the_value(bad):
    with pytest.raises(InvalidInput) as info:
        Context.start(bad)
    assert "Context.budget_ms must be a number >= 0" in str(info.value)
    assert f"got {bad!r}" in str(info.value)


@pytest.mark.parametrize("bad", [-5, float("nan")])
def test_start_refuses_bad_cost_budgets(bad):
    with pytest.raises(InvalidInput, match=f"Context.cost_budget must be a number >= 0, got {bad!r}"):
        Context.start(100, cost_budget=bad)


def test_start_accepts_numpy_numbers_as_budgets():
    ctx = Context.start(np.float32(100.0), cost_budget=np.int64(3), clock=FakeClock())
    assert ctx.budget_ms == 100.0 and type(ctx.budget_ms) is float
    assert ctx.cost_budget == 3.0


def test_zero_budget_is_allowed_and_already_expired():
    ctx = Context.start(0, clock=FakeClock())
    assert ctx.remaining_ms() == 0.0
    assert ctx.expired()


def test_start_fills_defaults():
    ctx = Context.start(10)
    assert isinstance(ctx.cancel, CancelToken) and not ctx.cancel.is_cancelled()
    assert isinstance(ctx.memory, Memory)
    assert len(ctx.trace_id) == 16 and int(ctx.trace_id, 16) >= 0
    assert ctx.cost_budget == math.inf
    assert ctx.depth == 0
    assert Context.start(10).trace_id != ctx.trace_id
    assert ctx.clock is time.monotonic  # outside a trio run


def test_start_keeps_what_it_is_given_even_an_empty_memory():
    memory, token = Memory(), CancelToken()
    assert len(memory) == 0  # falsy: a `memory or Memory()` bug would replace it
    ctx = Context.start(10, trace_id="abc", cancel=token, memory=memory)
    assert ctx.memory is memory
    assert ctx.cancel is token
    assert ctx.trace_id == "abc"


# -- immutability ----------------------------------------------------------------------------------
@pytest.mark.parametrize("field, value", [("budget_ms", 5.0), ("deadline", 0.0), ("trace_id", "x"), ("depth", 3)])
def test_context_is_frozen(field, value):
    ctx = Context.start(100)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        setattr(ctx, field, value)


def test_derive_returns_a_changed_copy_sharing_deadline_token_and_memory():
    ctx = Context.start(100, clock=FakeClock())
    child = ctx.derive(trace_id="t.1", depth=1, cost_budget=2.0)
    assert child is not ctx
    assert (child.trace_id, child.depth, child.cost_budget) == ("t.1", 1, 2.0)
    assert (ctx.depth, ctx.cost_budget) == (0, math.inf)
    assert child.deadline == ctx.deadline
    assert child.cancel is ctx.cancel and child.memory is ctx.memory


def test_derive_validates_its_changes():
    ctx = Context.start(100, clock=FakeClock())
    with pytest.raises(InvalidInput, match="cost_budget"):
        ctx.derive(cost_budget=-1)


def test_derive_never_extends_the_deadline():
    clock = FakeClock(10.0)
    ctx = Context.start(100, clock=clock)
    later = ctx.derive(deadline=ctx.deadline + 60.0)
    assert later.deadline == ctx.deadline
    assert later.remaining_ms() == 100.0
    earlier = ctx.derive(deadline=ctx.deadline - 0.05)
    assert earlier.remaining_ms() == 50.0


def test_narrowed_shortens_but_never_extends():
    clock = FakeClock(10.0)
    ctx = Context.start(100, clock=clock)
    assert ctx.narrowed(30).remaining_ms() == 30.0
    assert ctx.narrowed(10_000).remaining_ms() == 100.0
    assert ctx.narrowed(10_000).deadline == ctx.deadline
    clock.now = 10.08
    assert ctx.narrowed(50).remaining_ms() == 20.0
    assert ctx.remaining_ms() == 20.0  # the original is unchanged


@pytest.mark.parametrize("bad", [-1, float("nan")])
def test_narrowed_refuses_bad_budgets(bad):
    with pytest.raises(InvalidInput, match=f"got {bad!r}"):
        Context.start(100).narrowed(bad)


# -- trio's clock ------------------------------------------------------------------------------------
def test_remaining_ms_follows_trios_mock_clock_exactly():
    seen = {}

    async def main():
        ctx = Context.start(100)
        seen["start"] = ctx.remaining_ms()
        await trio.sleep(0.04)
        seen["after"] = ctx.remaining_ms()
        seen["elapsed"] = ctx.elapsed_ms()
        await trio.sleep(0.5)
        seen["expired"] = ctx.expired()
        seen["end"] = ctx.remaining_ms()

    trio.run(main, clock=mock_clock())
    assert seen["start"] == 100.0
    assert seen["after"] == 100.0 - 40.0
    assert seen["elapsed"] == 40.0
    assert seen["expired"] is True
    assert seen["end"] == 0.0


def test_narrowed_inside_trio_uses_the_same_clock():
    seen = {}

    async def main():
        ctx = Context.start(1000)
        await trio.sleep(0.25)
        narrow = ctx.narrowed(100)
        await trio.sleep(0.06)
        seen["narrow"] = narrow.remaining_ms()
        seen["outer"] = ctx.remaining_ms()

    trio.run(main, clock=mock_clock())
    assert seen == {"narrow": 40.0, "outer": 690.0}


def test_a_context_started_in_trio_does_not_use_the_monotonic_clock():
    """Proves the mock clock is really used: 10 virtual seconds pass in no real time."""
    seen = {}

    async def main():
        ctx = Context.start(5_000)
        await trio.sleep(10)
        seen["expired"] = ctx.expired()

    started = time.monotonic()
    trio.run(main, clock=mock_clock())
    assert seen["expired"] is True
    assert time.monotonic() - started < 5


def test_trace_ids_are_unique_across_threads_and_a_forked_child_never_repeats_its_parent():
    import os
    import threading

    from himoe_core._context import new_trace_id

    drawn: list[str] = []

    def draw() -> None:
        drawn.extend(new_trace_id() for _ in range(2000))

    threads = [threading.Thread(target=draw) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(drawn)) == len(drawn) == 8000
    assert all(len(t) == 16 and int(t, 16) >= 0 for t in drawn)

    new_trace_id()  # ids are drawn ahead: the parent holds some when it forks
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, new_trace_id().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 16).decode()
    os.close(read)
    os.close(write)
    assert len(child) == 16 and child != new_trace_id()


def test_options_are_read_only_carried_by_derive_and_reach_experts():
    from types import MappingProxyType

    from himoe_core import ExpertAux, ExpertOut, HiMoE, Value

    assert Context.start(100.0).options == {}
    given = {"max_tokens": 5, "messages": ({"role": "user", "content": "earlier"},)}
    ctx = Context.start(100.0, options=given)
    given["max_tokens"] = 6  # the context took a copy
    assert isinstance(ctx.options, MappingProxyType) and ctx.options["max_tokens"] == 5
    with pytest.raises(TypeError):
        ctx.options["temperature"] = 1.0
    assert ctx.derive(depth=1).options == ctx.options and ctx.narrowed(10.0).options == ctx.options
    with pytest.raises(InvalidInput, match="Context.options must be a mapping"):
        Context.start(100.0, options=[("max_tokens", 5)])

    class Probe:
        name = "probe"

        def can_handle(self, task):
            return True

        async def infer(self, x, ctx):
            return ExpertOut(Value.json(dict(ctx.options)), ExpertAux(confidence=1.0))

    with HiMoE(experts=[Probe()], entry_points=False, config={"state": {"enabled": False}}) as moe:
        assert moe.run_sync("hi", options={"temperature": 0.5}).value.as_json() == {"temperature": 0.5}
        assert moe.run_sync("hi").value.as_json() == {}
