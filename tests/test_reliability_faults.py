"""Fault injection, expert by expert: every fault ends in a degraded answer from the healthy
experts, or — when the faulty expert is alone — in one precise error naming it and its cause.

Each row of FAULTS is one line of the fault table in docs/reliability-tables.md: the faulty expert is
gated first (static weight 5), beside a healthy one, so the answer the caller gets is the
degraded one; then it is alone, and the error is checked by type and message.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import attrs
import pytest
import trio
import trio.testing

from himoe_core import DeadlineExceeded, ExpertAux, ExpertOut, HiMoE, InvalidInput, NoExpertSelected, Value
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

BUDGET_MS = 100


def make_moe(
    experts: list[Any],
    *,
    budget_ms: float = BUDGET_MS,
    weights: dict[str, float] | None = None,
    limits: dict[str, int] | None = None,
    aggregator: str = "best_score",
) -> HiMoE:
    router = {
        "kind": "static",
        "experts": [e.name for e in experts],
        "k": len(experts),
        "aggregator": aggregator,
        "weights": weights or {},
    }
    config = {"himoe": {"budget_ms": budget_ms}, "routers": {"r": router}, "state": {"enabled": False}}
    if limits:
        config["limits"] = limits
    return HiMoE(experts=experts, entry_points=False, environ={}, config=config)


def run(moe: HiMoE, *, x: Any = "question", **options: Any):
    """The request on trio's mock clock: a deadline cuts at exactly its budget, whatever the load
    (sync experts' threads run on the real clock; the mock clock jumps while they block)."""

    async def main():
        started = trio.current_time()
        try:
            response = await moe.run(x, **options)
        except Exception as exc:  # returned, so that the elapsed time is known either way
            return exc, trio.current_time() - started
        return response, trio.current_time() - started

    return trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))


def calls(response_or_trace) -> dict[str, dict[str, Any]]:
    trace = getattr(response_or_trace, "trace", response_or_trace)
    return {c["expert"]: c for c in trace["attempts"][-1]["calls"]}


# -- the table -------------------------------------------------------------------------------------------------
class Raises:
    """An async expert whose infer raises `exc` (built fresh on each call)."""

    def __init__(self, name: str, make_exc: Callable[[], BaseException]) -> None:
        self.name = name
        self._make_exc = make_exc

    def can_handle(self, task: str) -> bool:
        return True

    async def infer(self, x, ctx):
        raise self._make_exc()


class BareStringOut:
    """Builds ``ExpertOut("text")``: the value must be a Value, and ExpertOut says so."""

    name = "bad"

    def can_handle(self, task: str) -> bool:
        return True

    async def infer(self, x, ctx):
        return ExpertOut("a plain str")


class UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("__str__ exploded")


@attrs.frozen
class Fault:
    id: str
    make: Callable[[], Any]
    status: str  # how the faulty call ends in the trace
    cause: str  # regex on its cause
    alone: type[Exception]  # what the caller gets when it is the only expert
    message: str  # regex on that error's message
    budget_ms: float = BUDGET_MS
    max_elapsed_s: float = BUDGET_MS / 1000 + 0.05


FAULTS = [
    Fault(
        "raises",
        lambda: FailingExpert("bad", message="disk on fire"),
        "failed",
        r"^RuntimeError: disk on fire$",
        NoExpertSelected,
        r"every expert picked by router 'r' failed \[bad: failed: RuntimeError: disk on fire\]",
    ),
    Fault(
        "raises SystemExit (argparse in an expert)",
        lambda: Raises("bad", lambda: SystemExit(2)),
        "failed",
        r"^SystemExit: 2$",
        NoExpertSelected,
        r"\[bad: failed: SystemExit: 2\]",
    ),
    Fault(
        "raises with an unprintable message",
        lambda: Raises("bad", UnprintableError),
        "failed",
        r"^UnprintableError: <unprintable message>$",
        NoExpertSelected,
        r"bad: failed: UnprintableError",
    ),
    Fault(
        "raises with a 1 MB message",
        lambda: Raises("bad", lambda: ValueError("y" * 1_000_000)),
        "failed",
        r"^ValueError: y{400,}…$",
        NoExpertSelected,
        r"bad: failed: ValueError: y+…\]$",
    ),
    Fault(
        "hangs (async, awaits forever)",
        lambda: HangingExpert("bad"),
        "timed_out",
        r"cut at the deadline \(100 ms budget\)",
        DeadlineExceeded,
        r"no usable answer within the 100 ms budget \(bad: timed_out: cut at the deadline",
    ),
    Fault(
        "hangs in its worker thread (never returns)",
        lambda: StuckThreadExpert("bad"),
        "timed_out",
        r"cut at the deadline",
        DeadlineExceeded,
        r"within the 100 ms budget",
    ),
    Fault(
        "ignores cancellation (sync thread sleeping 1 s)",
        lambda: BlockingExpert("bad", seconds=1.0),
        "timed_out",
        r"cut at the deadline",
        DeadlineExceeded,
        r"within the 100 ms budget",
    ),
    Fault(
        "succeeds too slowly (async, 5 s)",
        lambda: SleepyExpert("bad", delay_s=5.0),
        "timed_out",
        r"cut at the deadline",
        DeadlineExceeded,
        r"within the 100 ms budget",
    ),
    Fault(
        "returns the wrong type",
        lambda: MalformedExpert("bad", "wrong_type"),
        "failed",
        r"^InvalidInput: cannot turn a object into a Value; return a str",
        NoExpertSelected,
        r"\[bad: failed: InvalidInput: cannot turn a object into a Value",
    ),
    Fault(
        "returns {'confidence': nan}",
        lambda: MalformedExpert("bad", "nan_json"),
        "failed",
        r"Json value must be JSON-serialisable without NaN or infinity: \$\['confidence'\] is nan",
        NoExpertSelected,
        r"bad: failed: InvalidInput: Json value must be JSON-serialisable",
    ),
    Fault(
        "returns a NaN embedding",
        lambda: MalformedExpert("bad", "nan_embedding"),
        "failed",
        r"Embedding value must be finite: value at index 1 is nan",
        NoExpertSelected,
        r"bad: failed: InvalidInput: Embedding value must be finite",
    ),
    # The expert itself raises (its ExpertAux refuses the value), so alone it reads as the
    # expert refusing the input: InvalidInput naming the expert and the field.
    Fault(
        "builds ExpertAux(confidence=nan)",
        lambda: MalformedExpert("bad", "nan_confidence"),
        "failed",
        r"^InvalidInput: ExpertAux.confidence must be a number in \[0, 1\], got nan$",
        InvalidInput,
        r"^bad: ExpertAux.confidence must be a number in \[0, 1\], got nan$",
    ),
    Fault(
        "builds ExpertAux(cost_units=-1)",
        lambda: MalformedExpert("bad", "negative_cost"),
        "failed",
        r"^InvalidInput: ExpertAux.cost_units must be a finite number >= 0, got -1.0$",
        InvalidInput,
        r"^bad: ExpertAux.cost_units must be a finite number >= 0, got -1.0$",
    ),
    Fault(
        "builds ExpertOut('a plain str')",
        BareStringOut,
        "failed",
        r"^TypeError: ExpertOut's value must be a "
        r"Value, not a str; wrap it: ExpertOut\(Value\.text\(\.\.\.\), aux\)$",
        NoExpertSelected,
        r"bad: failed: TypeError: ExpertOut's value must be a Value, not a str; wrap it",
    ),
    Fault(
        "returns a 50 MB string",
        lambda: MalformedExpert("bad", "huge_text"),
        "failed",
        r"^output too large: 52428800 bytes, more than limits.max_output_bytes \(16777216\); it was dropped$",
        NoExpertSelected,
        r"bad: failed: output too large: 52428800 bytes",
        max_elapsed_s=2.0,
    ),
    Fault(
        "returns 50 MB of bytes",
        lambda: MalformedExpert("bad", "huge_bytes"),
        "failed",
        r"^output too large: 52428800 bytes, more than limits.max_output_bytes",
        NoExpertSelected,
        r"output too large",
        max_elapsed_s=2.0,
    ),
    Fault(
        "returns a 3-million-item list",
        lambda: MalformedExpert("bad", "huge_list", size=3_000_000),
        "failed",
        r"^output too large: 2\d{7} bytes, more than limits.max_output_bytes",
        NoExpertSelected,
        r"output too large",
        max_elapsed_s=5.0,
    ),
]


@pytest.mark.parametrize("fault", FAULTS, ids=[f.id for f in FAULTS])
def test_a_fault_beside_a_healthy_expert_gives_the_degraded_answer(fault):
    bad = fault.make()
    moe = make_moe([bad, ConstantExpert("good", value="good answer")], budget_ms=fault.budget_ms, weights={"bad": 5.0})
    try:
        response, elapsed = run(moe)
        assert not isinstance(response, Exception), f"{type(response).__name__}: {response}"
        assert response.value.as_text() == "good answer"
        call = calls(response)["bad"]
        assert call["status"] == fault.status, call
        assert re.search(fault.cause, call["cause"]), call["cause"][:300]
        assert len(call["cause"]) <= 500
        assert dict(response.mix.failures)["bad"].startswith(fault.status)
        assert response.trace["attempts"][0]["gate"][0]["expert"] == "bad", "the faulty expert was gated first"
        assert elapsed <= fault.max_elapsed_s, f"answered after {elapsed:.3f} s"
    finally:
        _release(bad)
        moe.close()


@pytest.mark.parametrize("fault", FAULTS, ids=[f.id for f in FAULTS])
def test_a_fault_alone_is_one_precise_error(fault):
    bad = fault.make()
    moe = make_moe([bad], budget_ms=fault.budget_ms)
    try:
        error, elapsed = run(moe)
        assert type(error) is fault.alone, f"{type(error).__name__}: {error}"
        assert re.search(fault.message, str(error)), str(error)[:600]
        assert len(str(error)) < 1000, "an error message is a line, not a dump"
        assert elapsed <= fault.max_elapsed_s, f"failed after {elapsed:.3f} s"
        trace = moe.traces.recent(1)[0]
        assert trace["error"].startswith(type(error).__name__)
    finally:
        _release(bad)
        moe.close()


def _release(expert: Any) -> None:
    release = getattr(expert, "release", None)
    if release is not None:
        release()


# -- intermittent failures -------------------------------------------------------------------------------------
def test_intermittent_failures_are_reproducible_and_every_request_is_answered():
    def serve(seed: int) -> tuple[list[bool], list[str]]:
        flaky = FlakyExpert("flaky", failure_rate=0.3, seed=seed, value="flaky answer")
        moe = make_moe([flaky, ConstantExpert("steady", value="steady answer")], weights={"flaky": 5.0})

        async def main():
            return [await moe.run(f"request {i}") for i in range(200)]

        responses = trio.run(main, clock=trio.testing.MockClock(autojump_threshold=0))
        statuses = [calls(r)["flaky"]["status"] == "ok" for r in responses]
        assert statuses == flaky.outcomes
        return flaky.outcomes, [r.value.as_text() for r in responses]

    outcomes, answers = serve(seed=7)
    assert 30 <= outcomes.count(False) <= 90, outcomes.count(False)
    assert answers == ["flaky answer" if ok else "steady answer" for ok in outcomes]
    assert serve(seed=7)[0] == outcomes, "the same seed fails the same calls"
    assert serve(seed=8)[0] != outcomes


def test_flaky_expert_refuses_a_rate_outside_zero_one():
    with pytest.raises(ValueError, match=r"failure_rate must be in \[0, 1\], got 1.5"):
        FlakyExpert("f", failure_rate=1.5)


def test_malformed_expert_refuses_an_unknown_fault():
    with pytest.raises(ValueError, match=r"fault must be one of wrong_type, .*got 'melts'"):
        MalformedExpert("m", "melts")


# -- the output size limit -------------------------------------------------------------------------------------
def test_the_output_limit_comes_from_limits_max_output_bytes():
    big = ConstantExpert("big", value="x" * 2_000)
    moe = make_moe([big, ConstantExpert("small", value="s")], weights={"big": 5.0}, limits={"max_output_bytes": 1_000})
    response, _ = run(moe)
    assert response.value.as_text() == "s"
    assert calls(response)["big"]["cause"] == (
        "output too large: 2000 bytes, more than limits.max_output_bytes (1000); it was dropped"
    )
    roomy = make_moe([big], limits={"max_output_bytes": 2_000})
    response, _ = run(roomy)
    assert response.value.as_text() == "x" * 2_000, "exactly at the limit is accepted"


@pytest.mark.parametrize(
    "value, size",
    [
        ("héllo", 6),  # UTF-8 bytes, not characters
        ({"a": [1, 2]}, len('{"a":[1,2]}')),  # the canonical JSON
        (b"\x00" * 10, 10),
        (None, 0),
    ],
)
def test_output_size_is_measured_in_bytes(value, size):
    from himoe_core.routing import to_value

    assert to_value(value).size_bytes() == size


def test_an_oversized_output_never_reaches_the_trace_or_the_state_file(tmp_path):
    path = tmp_path / "state.sqlite3"
    moe = HiMoE(
        experts=[MalformedExpert("bad", "huge_text", size=3_000_000), ConstantExpert("good")],
        entry_points=False,
        environ={},
        config={
            "routers": {"r": {"experts": ["*"], "k": 2}},
            "state": {"path": str(path)},
            "limits": {"max_output_bytes": 1_000_000},
        },
    )
    try:
        for _ in range(5):
            response = moe.run_sync("question")
            assert len(str(response.trace)) < 10_000
    finally:
        moe.close()
    assert path.stat().st_size < 1_000_000, "five 3 MB answers were written to the state file"


# -- a sync expert that returns after being abandoned -------------------------------------------------------
def test_a_thread_finishing_after_its_request_changes_nothing():
    """A sync expert abandoned at the deadline finishes later: its late answer goes nowhere,
    and the next request is served normally."""
    slow = BlockingExpert("slow", seconds=0.3, value="late")
    moe = make_moe([slow, ConstantExpert("good", value="good answer")], weights={"slow": 5.0})
    try:
        response, elapsed = run(moe)  # cut at the deadline on the trio clock
        assert response.value.as_text() == "good answer" and elapsed <= 0.1
        assert slow.done.wait(30.0)  # its 0.3 s, however busy the machine
        time.sleep(0.05)
        assert calls(moe.traces.get(response.trace_id))["slow"]["status"] == "timed_out"
        response, _ = run(moe)
        assert response.value.as_text() == "good answer"
    finally:
        moe.close()


def test_an_expert_returning_an_expert_out_with_a_forged_latency_is_restamped():
    async def forged(x, ctx):
        return ExpertOut(Value.text("v"), ExpertAux(latency_ms=999_999.0, trace_id="forged"))

    expert = SimpleNamespace(name="forger", can_handle=lambda task: True, infer=forged)
    response, _ = run(make_moe([expert]))
    call = calls(response)["forger"]
    assert call["status"] == "ok" and call["latency_ms"] < 1.0
    assert response.trace["trace_id"] != "forged"
