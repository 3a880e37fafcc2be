"""The state writer's thread: batches that queue up while it writes are merged into one write,
nothing is lost on close, and a failed write is reported on the next drain."""

from __future__ import annotations

import threading

import pytest

from himoe_core._engine.trace_writer import MAX_MERGED, TraceWriter
from himoe_core._errors import StateError


class _GatedWrites:
    """Records each write; the first one waits for `release` so that batches pile up behind it."""

    def __init__(self) -> None:
        self.writes: list[list[int]] = []
        self.first_started = threading.Event()
        self.release = threading.Event()

    def __call__(self, rows: list[int]) -> None:
        if not self.writes:
            self.first_started.set()
            self.release.wait(10)
        self.writes.append(list(rows))


def test_batches_queued_during_a_write_are_written_together_in_order():
    writes = _GatedWrites()
    writer = TraceWriter(writes)
    writer.submit([0, 1])
    assert writes.first_started.wait(10)
    for start in range(2, 20, 2):
        writer.submit([start, start + 1])
    writes.release.set()
    writer.drain()
    writer.close()
    assert writes.writes == [[0, 1], list(range(2, 20))]


def test_a_merged_write_is_bounded():
    writes = _GatedWrites()
    writer = TraceWriter(writes)
    writer.submit([-1])
    assert writes.first_started.wait(10)
    batch = list(range(1000))
    for _ in range(MAX_MERGED // 1000 + 3):
        writer.submit(batch)
    writes.release.set()
    writer.close()
    assert all(len(rows) <= MAX_MERGED + len(batch) for rows in writes.writes)
    assert len(writes.writes) >= 3
    assert sum(len(rows) for rows in writes.writes) == 1 + 1000 * (MAX_MERGED // 1000 + 3)


def test_close_writes_what_is_queued_first():
    writes = _GatedWrites()
    writer = TraceWriter(writes)
    writer.submit([1])
    assert writes.first_started.wait(10)
    writer.submit([2])
    writer.submit([3])
    writes.release.set()
    writer.close()
    assert writes.writes == [[1], [2, 3]]


def test_a_failed_write_is_reported_on_drain_and_the_thread_goes_on():
    calls = []

    def write(rows):
        calls.append(rows)
        if rows == ["bad"]:
            raise OSError("disk full")

    writer = TraceWriter(write)
    writer.submit(["bad"])
    with pytest.raises(StateError, match="could not write traces to the state file: disk full"):
        writer.drain()
    writer.submit(["good"])
    writer.drain()
    writer.close()
    assert calls[-1] == ["good"]


def test_a_bad_batch_among_merged_ones_loses_only_itself():
    written: list[list[str]] = []
    gate = threading.Event()
    first = threading.Event()

    def write(rows):
        if rows == ["hold"]:
            first.set()
            gate.wait(10)
        if "bad" in rows:
            raise ValueError("a row the database refuses")
        written.append(list(rows))

    writer = TraceWriter(write)
    writer.submit(["hold"])
    assert first.wait(10)
    for batch in (["a1", "a2"], ["bad"], ["b1"]):
        writer.submit(batch)
    gate.set()
    with pytest.raises(StateError, match="a row the database refuses"):
        writer.drain()
    writer.close()
    assert written == [["hold"], ["a1", "a2"], ["b1"]]


def test_an_empty_batch_is_accounted_for_so_drain_returns():
    written = []
    writer = TraceWriter(lambda rows: written.append(list(rows)))
    writer.submit([])
    writer.submit(["row"])
    drained = threading.Thread(target=writer.drain)
    drained.start()
    drained.join(5)
    assert not drained.is_alive(), "drain() waited for a batch that was never marked done"
    writer.close()
    assert written == [["row"]]


def test_an_armed_writer_writes_what_waited_without_being_asked():
    """`arm()`: the owner's `due()` runs on the writer's thread within `every_s`, and what it
    submits is written — a decision reaches the store however slowly requests come. Unarmed, the
    writer does not call it (an idle engine's thread sleeps)."""
    waiting, written = [["late"]], threading.Event()
    writes: list[list[str]] = []
    calls = []

    def write(rows):
        writes.append(rows)
        written.set()

    def due():
        calls.append(len(waiting))
        if waiting:
            writer.submit(waiting.pop())

    writer = TraceWriter(write, every_s=0.001, due=due)
    writer.submit([])
    writer.drain()
    assert calls == []
    writer.arm()
    assert written.wait(10)
    writer.drain()
    writer.close()
    assert writes == [["late"]] and calls == [1]


def test_an_armed_writer_stays_armed_while_something_waits_each_time():
    """Under steady traffic the owner arms the writer once: while `due()` finds something it is
    called again `every_s` later, and once it finds nothing the writer stops calling it until
    armed again (an idle engine's thread sleeps)."""
    waiting = [["c"], ["b"], ["a"]]
    calls, found_nothing = [], threading.Event()
    writes: list[list[str]] = []

    def due():
        calls.append(len(waiting))
        if waiting:
            writer.submit(waiting.pop())
            return True
        found_nothing.set()
        return False

    writer = TraceWriter(writes.append, every_s=0.001, due=due)
    writer.arm()
    assert found_nothing.wait(10)
    writer.drain()
    writer.close()
    assert writes == [["a"], ["b"], ["c"]] and calls == [3, 2, 1, 0]


def test_a_request_after_close_is_written_within_flush_s(tmp_path):
    """`close()` drops the writer while its timer may still be armed; the next request must arm
    the next writer's, or its decision waits in memory for `flush_every` more requests (or the
    next close) instead of `flush_s`, and another replica cannot find it."""
    import time

    from himoe_core import HiMoE
    from himoe_core.state import SqliteStateStore
    from himoe_core.testing import ConstantExpert

    path = tmp_path / "state.sqlite3"
    moe = HiMoE(
        experts=[ConstantExpert("a", value="x")],
        entry_points=False,
        environ={},
        config={"state": {"path": str(path), "flush_s": 0.05}},
    )
    moe.run_sync("one")
    moe.close()
    second = moe.run_sync("two")
    store = SqliteStateStore(path)
    try:
        deadline = time.monotonic() + 30.0  # written within flush_s; never, with the fault
        while store.trace(second.trace_id) is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert store.trace(second.trace_id) is not None
    finally:
        store.close()
        moe.close()
