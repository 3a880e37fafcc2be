"""Traces are kept as records and rendered once, when first read — by whoever reads first."""

from __future__ import annotations

import threading

import pytest

from himoe_core import HiMoE
from himoe_core.engine.trace_record import TraceRecord
from himoe_core.testing import ConstantExpert


def test_a_record_renders_once_whatever_the_number_of_threads_reading_it():
    calls = []
    barrier = threading.Barrier(8)

    def render():
        calls.append(1)
        return {"trace_id": "t"}

    record = TraceRecord("t", render)
    seen = []

    def read():
        barrier.wait()
        seen.append(record.data())

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert all(data is seen[0] for data in seen)


def test_a_record_needs_exactly_one_of_render_and_data():
    with pytest.raises(ValueError, match="either a render function or the trace dict"):
        TraceRecord("t")
    with pytest.raises(ValueError, match="either a render function or the trace dict"):
        TraceRecord("t", lambda: {}, {"trace_id": "t"})


def test_the_response_and_the_store_share_one_trace_rendered_from_the_request():
    moe = HiMoE(experts=[ConstantExpert("alpha", "a"), ConstantExpert("beta", "b")], entry_points=False,
                config={"routers": {"main": {"kind": "static", "experts": ["*"], "k": 2}},
                        "state": {"enabled": False}})
    try:
        response = moe.run_sync("hello")
        assert moe.traces.update(response.trace_id, lambda trace: trace.setdefault("note", "added later"))
        trace = response.trace
        assert trace["note"] == "added later", "the response reads the stored trace, not a copy"
        assert trace["trace_id"] == response.trace_id and trace["router"] == "main"
        assert sorted(call["expert"] for call in trace["attempts"][0]["calls"]) == ["alpha", "beta"]
        assert trace["elapsed_ms"] == response.elapsed_ms
        assert moe.traces.get(response.trace_id) == trace and moe.traces.get(response.trace_id) is not trace
    finally:
        moe.close()
