"""Traces are kept as records, rendered once when first read (by whoever reads first), and frozen
into JSON text once old enough, so that a full trace store costs the garbage collector nothing."""

from __future__ import annotations

import gc
import threading
import weakref

import pytest

from himoe_core import HiMoE
from himoe_core.engine.trace_record import TraceRecord
from himoe_core.engine.trace_store import TraceStore
from himoe_core.testing import ConstantExpert


def _engine(k: int = 2, **state) -> HiMoE:
    experts = [ConstantExpert(f"e{i}", f"answer {i}") for i in range(k)]
    return HiMoE(experts=experts, entry_points=False,
                 config={"routers": {"main": {"kind": "static", "experts": ["*"], "k": k}},
                         "state": state or {"enabled": False}})


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


class _Request:
    """Stands for the objects a request leaves behind (weakly referenceable)."""


def test_only_the_newest_records_keep_their_request_alive():
    store = TraceStore(capacity=1000)
    requests = [_Request() for _ in range(store.unfrozen + 10)]
    alive = [weakref.ref(r) for r in requests]
    for i, request in enumerate(requests):
        store.put(TraceRecord(f"t{i}", lambda i=i, request=request: {"trace_id": f"t{i}", "n": i}))
    del requests, request
    gc.collect()
    assert [ref() is None for ref in alive] == [True] * 10 + [False] * store.unfrozen
    assert "frozen" in repr(store.record("t0")) and "not rendered" in repr(store.record(f"t{store.unfrozen + 9}"))
    assert store.get("t3") == {"trace_id": "t3", "n": 3}
    assert [t["n"] for t in store.recent(12)] == list(range(store.unfrozen - 2, store.unfrozen + 10))


def test_a_small_store_freezes_nothing():
    store = TraceStore(capacity=5)
    for i in range(store.unfrozen + 5):
        store.put(TraceRecord(f"t{i}", lambda i=i: {"trace_id": f"t{i}"}))
    assert len(store) == 5
    assert all("not rendered" in repr(store.record(f"t{i}")) for i in range(store.unfrozen, store.unfrozen + 5))


def test_a_frozen_trace_reads_the_same_and_takes_updates():
    record = TraceRecord("t", data={"trace_id": "t", "attempts": [{"gate": [{"prob": 0.25}]}], "error": None})
    store = TraceStore()
    store.put(record)
    before = record.data()
    text = store.freeze(record)
    assert record.data() == before and record.data() is not record.data(), "a new dict per read once frozen"
    assert store.freeze(record) is text
    assert store.update("t", lambda trace: trace.setdefault("shadows", []).append({"router": "s"}))
    assert store.get("t")["shadows"] == [{"router": "s"}] and record.data()["attempts"] == before["attempts"]
    assert record.frozen, "an update leaves a frozen record frozen"


@pytest.mark.parametrize("state", ["off", "on"])
def test_kept_traces_add_almost_nothing_for_the_garbage_collector_to_walk(tmp_path, state):
    # Each kept trace, not frozen, held ~40 objects at k = 4: 10,000 of them made a full
    # collection pause 70-160 ms, enough to push requests past a 100 ms deadline.
    moe = _engine(4, **({"path": str(tmp_path / "s.sqlite3")} if state == "on" else {}))

    def tracked_after(requests: int) -> int:
        for _ in range(requests):
            moe.run_sync("hello")
        moe.trainer.flush()
        gc.collect()
        return len(gc.get_objects())

    try:
        before = tracked_after(moe.traces.unfrozen + 100)  # the newest records are not frozen yet
        per_request = (tracked_after(2000) - before) / 2000
        assert len(moe.traces) == moe.traces.unfrozen + 2100
        assert per_request < 4, f"{per_request:.1f} tracked objects kept per request"
    finally:
        moe.close()


def test_an_update_leaves_a_frozen_trace_frozen_and_the_window_its_size():
    # Shadows update a trace after its response left, sometimes long after: a frozen trace
    # thawed then would sit in memory as objects again, and putting it back into the window
    # would make one later request freeze a whole burst of them.
    store = TraceStore(capacity=100_000)
    for i in range(3 * store.unfrozen):
        store.put(TraceRecord(f"t{i}", data={"trace_id": f"t{i}"}))
        late = [i - store.unfrozen - 1] if i > store.unfrozen else []  # one already frozen
        for j in [i, *late]:
            assert store.update(f"t{j}", lambda trace: trace.setdefault("shadows", []).append({"router": "s"}))
    assert len(store._unfrozen) == store.unfrozen
    assert store.record("t0").frozen and store.get("t0")["shadows"] == [{"router": "s"}] * 2
    assert not store.record(f"t{3 * store.unfrozen - 1}").frozen
