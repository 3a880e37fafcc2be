"""Traces are kept as records of atoms, rendered once when first read (by whoever reads first) and
released once old enough, so that a full trace store costs the garbage collector nothing."""

from __future__ import annotations

import gc
import threading

import pytest

from himoe_core import HiMoE
from himoe_core._engine.trace_record import TraceRecord
from himoe_core._engine.trace_store import TraceStore
from himoe_core.testing import ConstantExpert


def _engine(k: int = 2, **state) -> HiMoE:
    experts = [ConstantExpert(f"e{i}", f"answer {i}") for i in range(k)]
    return HiMoE(
        experts=experts,
        entry_points=False,
        config={
            "routers": {"main": {"kind": "static", "experts": ["*"], "k": k}},
            "state": state or {"enabled": False},
        },
    )


def _atoms(trace_id: str = "t", n: int = 0) -> tuple:
    """A failed request's atoms: no attempt, an error naming `n`."""
    return (
        trace_id,
        "text(5 chars)",
        None,
        1000.0,
        0,
        1.5,
        f"NoExpertSelected: {n}",
        None,
        None,
        None,
        None,
        None,
        None,
        "text",
        "hello",
        None,
        0,
    )


def test_a_record_renders_once_whatever_the_number_of_threads_reading_it():
    record = TraceRecord("t", _atoms())
    barrier = threading.Barrier(8)
    seen = []

    def read():
        barrier.wait()
        seen.append(record.data())

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(data is seen[0] for data in seen), "every reader gets the one dict published"
    assert seen[0] == {
        "trace_id": "t",
        "input": "text(5 chars)",
        "task": None,
        "budget_ms": 1000.0,
        "depth": 0,
        "attempts": [],
        "error": "NoExpertSelected: 0",
        "elapsed_ms": 1.5,
    }


def test_a_record_needs_exactly_one_of_atoms_and_data():
    with pytest.raises(ValueError, match="either the trace's atoms or the trace dict"):
        TraceRecord("t")
    with pytest.raises(ValueError, match="either the trace's atoms or the trace dict"):
        TraceRecord("t", _atoms(), {"trace_id": "t"})


def test_the_response_and_the_store_share_one_trace_rendered_from_the_request():
    moe = HiMoE(
        experts=[ConstantExpert("alpha", "a"), ConstantExpert("beta", "b")],
        entry_points=False,
        config={"routers": {"main": {"kind": "static", "experts": ["*"], "k": 2}}, "state": {"enabled": False}},
    )
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


def test_only_the_newest_records_keep_a_dict():
    store = TraceStore(capacity=1000)
    for i in range(store.window + 10):
        store.put(TraceRecord(f"t{i}", _atoms(f"t{i}", i)))
        store.record(f"t{i}").data()  # read: rendered
    assert [store.record(f"t{i}").released for i in range(store.window + 10)] == [True] * 10 + [False] * store.window
    assert repr(store.record("t0")) == "TraceRecord('t0', released)"
    assert repr(store.record(f"t{store.window + 9}")) == f"TraceRecord('t{store.window + 9}', rendered)"
    assert store.record("t3").data() is not store.record("t3").data(), "a new dict per read once released"
    assert store.get("t3")["error"] == "NoExpertSelected: 3"
    assert [t["error"] for t in store.recent(3)] == [f"NoExpertSelected: {store.window + i}" for i in (7, 8, 9)]


def test_a_record_holds_nothing_of_the_request_the_collector_would_walk():
    moe = _engine(4)
    try:
        response = moe.run_sync("hello")
        record = moe.traces.record(response.trace_id)
        gc.collect()
        tracked = [atom for atom in _walk(record._atoms) if gc.is_tracked(atom)]
        assert tracked == [], tracked
        assert record.data() == moe.traces.get(response.trace_id)
    finally:
        moe.close()


def _walk(atoms):
    yield atoms
    if isinstance(atoms, tuple):
        for atom in atoms:
            yield from _walk(atom)


def test_a_released_trace_reads_the_same_and_takes_updates():
    record = TraceRecord("t", data={"trace_id": "t", "attempts": [{"gate": [{"prob": 0.25}]}], "error": None})
    store = TraceStore()
    store.put(record)
    before = record.data()
    record.release()
    assert repr(record) == "TraceRecord('t', released as JSON)", "a trace given as a dict is kept as JSON"
    assert record.data() == before and record.data() is not record.data(), "a new dict per read once released"
    assert store.json(record) == '{"trace_id":"t","attempts":[{"gate":[{"prob":0.25}]}],"error":null}'
    assert store.update("t", lambda trace: trace.setdefault("shadows", []).append({"router": "s"}))
    assert store.get("t")["shadows"] == [{"router": "s"}] and record.data()["attempts"] == before["attempts"]
    assert record.released, "an update leaves a released record released"


def test_an_updated_trace_keeps_its_update_once_released():
    store = TraceStore()
    record = TraceRecord("t", _atoms())
    store.put(record)
    assert store.update("t", lambda trace: trace.setdefault("shadows", []).append({"router": "s"}))
    record.release()
    assert record.data()["shadows"] == [{"router": "s"}]
    assert '"shadows":[{"router":"s"}]' in store.json(record)


@pytest.mark.parametrize("state", ["off", "on"])
def test_kept_traces_add_almost_nothing_for_the_garbage_collector_to_walk(tmp_path, state):
    # Each kept trace, as a dict, held ~40 objects at k = 4: 10,000 of them made a full
    # collection pause 70-160 ms, enough to push requests past a 100 ms deadline.
    moe = _engine(4, **({"path": str(tmp_path / "s.sqlite3")} if state == "on" else {}))

    def tracked_after(requests: int) -> int:
        for _ in range(requests):
            moe.run_sync("hello")
        moe.trainer.flush()
        gc.collect()
        return len(gc.get_objects())

    try:
        before = tracked_after(moe.traces.window + 100)
        per_request = (tracked_after(2000) - before) / 2000
        assert len(moe.traces) == moe.traces.window + 2100
        assert per_request < 4, f"{per_request:.1f} tracked objects kept per request"
    finally:
        moe.close()


def test_an_update_leaves_a_released_trace_released_and_the_window_its_size():
    # Shadows update a trace after its response left, sometimes long after: a released trace
    # kept as a dict then would sit in memory as objects again, and putting it back into the
    # window would make one later request release a whole burst of them.
    store = TraceStore(capacity=100_000)
    for i in range(3 * store.window):
        store.put(TraceRecord(f"t{i}", data={"trace_id": f"t{i}"}))
        late = [i - store.window - 1] if i > store.window else []  # one already released
        for j in [i, *late]:
            assert store.update(f"t{j}", lambda trace: trace.setdefault("shadows", []).append({"router": "s"}))
    assert len(store._newest) == store.window
    assert store.record("t0").released and store.get("t0")["shadows"] == [{"router": "s"}] * 2
    assert not store.record(f"t{3 * store.window - 1}").released
