"""State crash safety: a process writing the state file, killed with SIGKILL at a random moment
— mid-transaction, mid trace batch, mid router save — leaves a consistent database, and the next
run continues on it with nothing committed lost and nothing half-applied.

The writer logs each feedback's trace id (O_APPEND, one write) only after `feedback()` returned,
i.e. after its transaction committed: every logged id must be in the file, and the file may hold
at most one row more than the log (killed between the commit and the log write).

Files that are not a usable state (corrupt, foreign, newer schema) and the 0600 mode are tested in
tests/test_learning_state.py.
"""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from himoe_core.state import SqliteStateStore as StateStore

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL (POSIX)")

ENGINE_WRITER = textwrap.dedent("""
    import os, sys
    from himoe_core import HiMoE
    from himoe_core.testing import ConstantExpert, LearningExpert

    state, log = sys.argv[1], sys.argv[2]
    moe = HiMoE(experts=[LearningExpert("alpha", value="a"), ConstantExpert("beta", value="b")],
                entry_points=False, environ={},
                config={"routers": {"r": {"kind": "linucb", "experts": ["alpha", "beta"], "k": 2,
                                          "encoder": {"id": "hashing", "dim": 16}}},
                        "state": {"path": state, "flush_every": 3}})
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    i = 0
    while True:
        response = moe.run_sync(f"request {i} about topic {i % 5}")
        moe.feedback(response.trace_id, reward=float(i % 2), expected="a")
        os.write(fd, (response.trace_id + "\\n").encode())  # only once the feedback committed
        i += 1
""")

STORE_WRITER = textwrap.dedent("""
    import os, sys
    import numpy as np
    from himoe_core.state import SqliteStateStore as StateStore

    state, log = sys.argv[1], sys.argv[2]
    store = StateStore(state)
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    version = store.router_version("r")
    blob = np.arange(4096, dtype=np.float64)  # 32 KiB per save: pages written mid-transaction
    i = 0
    while True:
        trace_id = f"{os.getpid()}-{i}"
        with store.exclusive():  # one transaction: a trace, its feedback and the router state
            store.record_trace_rows([(trace_id, "r", "text", None, b"x" * 512, '{"trace_id": "%s"}' % trace_id)])
            store.record_feedback(trace_id, "r", 1.0, 0.0, {"i": i})
            version += 1
            store.save_router("r", {"kind": "test", "updates": version, "w": blob + version}, version)
        os.write(fd, (trace_id + "\\n").encode())
        i += 1
""")


def start(script: Path, state: Path, log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(script), str(state), str(log)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def logged(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def kill_at_a_random_moment(proc: subprocess.Popen, log: Path, rng: random.Random, at_least: int) -> None:
    """Wait until `at_least` commits are logged, then a random 0–40 ms more, then SIGKILL."""
    deadline = time.monotonic() + 60
    while len(logged(log)) < at_least:
        if proc.poll() is not None:
            raise AssertionError(f"the writer died on its own:\n{proc.stderr.read()}")
        assert time.monotonic() < deadline, "the writer made no progress"
        time.sleep(0.002)
    time.sleep(rng.uniform(0.0, 0.040))
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL


def integrity(state: Path) -> str:
    db = sqlite3.connect(state)  # recovers from the WAL like any later reader
    try:
        return db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        db.close()


def feedback_ids(store: StateStore) -> list[str]:
    return [row["trace_id"] for row in store.feedback()]


@pytest.mark.parametrize("writer", ["engine", "store"])
def test_a_writer_killed_mid_transaction_leaves_a_consistent_state_that_the_next_run_continues(tmp_path, writer):
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    script = tmp_path / "writer.py"
    script.write_text(ENGINE_WRITER if writer == "engine" else STORE_WRITER)
    state, log = tmp_path / "state.sqlite3", tmp_path / "committed.log"
    for round_ in range(3):
        before = len(logged(log))
        kill_at_a_random_moment(start(script, state, log), log, rng, before + rng.randint(3, 25))
        where = f"(seed {seed}, writer {writer}, kill {round_ + 1})"
        assert integrity(state) == "ok", where
        committed = logged(log)
        store = StateStore(state)  # opens, identifies and migrates the crashed file
        try:
            rows = feedback_ids(store)
            missing = sorted(set(committed) - set(rows))
            assert not missing, f"committed feedback lost {where}: {missing[:5]}"
            assert len(set(rows)) == len(rows), f"a feedback row applied twice {where}"
            # committed but killed before its log line: at most the last row of each killed run
            unlogged = [i for i, trace_id in enumerate(rows) if trace_id not in set(committed)]
            assert len(unlogged) <= round_ + 1, f"{len(rows)} rows, {len(committed)} logged {where}"
            if writer == "store":  # ids are "<pid>-<n>": an unlogged row is its run's last one
                last = {}
                for trace_id in rows:
                    pid, n = trace_id.split("-")
                    last[pid] = max(last.get(pid, -1), int(n))
                assert all(int(rows[i].split("-")[1]) == last[rows[i].split("-")[0]] for i in unlogged), where
            saved, version = store.load_router("r")
            # the router state was saved in the same transaction as each feedback row: never ahead, never behind
            assert version == len(rows) == saved["updates"], (version, len(rows), saved["updates"], where)
            traced = {t["trace_id"] for t in store.traces()}
            assert set(rows) <= traced, f"feedback whose trace is missing {where}"
            if writer == "engine":
                assert int(saved["linucb"]["counts"].sum()) == len(rows), where
            else:
                assert saved["w"][0] == version, where
        finally:
            store.close()
    assert len(logged(log)) >= 9, "each run made progress on the file the previous one crashed on"


def test_a_trace_batch_killed_mid_write_loses_no_earlier_batch(tmp_path):
    """The trace writer thread is killed with its process mid-batch: whole earlier batches are
    there, and no batch is there in part (each batch is one transaction)."""
    script = tmp_path / "traces.py"
    script.write_text(
        textwrap.dedent("""
        import os, sys
        from himoe_core.state import SqliteStateStore as StateStore

        store, log = StateStore(sys.argv[1]), sys.argv[2]
        fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        batch = 0
        while True:
            rows = [(f"b{batch}-t{i}", "r", "text", None, b"y" * 2048, "{}") for i in range(50)]
            store.record_trace_rows(rows)
            os.write(fd, f"{batch}\\n".encode())
            batch += 1
    """)
    )
    state, log = tmp_path / "state.sqlite3", tmp_path / "batches.log"
    rng = random.Random()
    kill_at_a_random_moment(start(script, state, log), log, rng, rng.randint(2, 20))
    assert integrity(state) == "ok"
    db = sqlite3.connect(state)
    try:
        ids = [row[0] for row in db.execute("SELECT trace_id FROM traces")]
    finally:
        db.close()
    batches = {}
    for trace_id in ids:
        batch = trace_id.split("-")[0]
        batches[batch] = batches.get(batch, 0) + 1
    assert all(n == 50 for n in batches.values()), f"a batch was stored in part: {batches}"
    assert {f"b{b}" for b in logged(log)} <= set(batches)
