"""Learned state in the SQLite file: it survives restarts exactly, holds no pickle, loses nothing to
concurrent writers, refuses files that are not its own without touching them, and is private."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from himoe_core import HiMoE, StateError
from himoe_core.routing import EncodeError
from himoe_core.state import SCHEMA_VERSION
from himoe_core.state import SqliteStateStore as StateStore
from himoe_core.testing import ConstantExpert, LearningExpert

KINDS = ["symbolic", "linear", "linucb", "thompson", "hybrid", "logistic"]


def state_path() -> Path:
    return Path(os.environ["HIMOE_STATE"])  # the per-test file from the root conftest


def router_table(kind: str, experts: list[str], **options) -> dict:
    table = {
        "kind": kind,
        "experts": experts,
        "k": 1,
        "aggregator": "best_score",
        "gating": {"seed": 3, "temperature": 0.5, "epsilon": 0.2},
        **options,
    }
    if kind != "symbolic":
        table.setdefault("encoder", {"id": "hashing", "dim": 16})
    return table


def make_moe(kind: str = "linucb", names=("alpha", "beta"), *, state: dict | None = None, **options) -> HiMoE:
    experts = [ConstantExpert(name, value=name) for name in names]
    config = {"routers": {"r": router_table(kind, list(names), **options)}}
    if state is not None:
        config["state"] = state
    return HiMoE(experts=experts, entry_points=False, environ={}, config=config)


def train(moe: HiMoE, n: int, offset: int = 0) -> None:
    for i in range(offset, offset + n):
        response = moe.run_sync(f"request {i % 7} about topic {i % 3}")
        moe.feedback(response.trace_id, reward=float(response.value.as_text() == ("alpha" if i % 3 else "beta")))


def decisions(moe: HiMoE, n: int = 12) -> list[tuple[str, list]]:
    out = []
    for i in range(n):
        attempt = moe.run_sync(f"request {i % 7} about topic {i % 3}").trace["attempts"][-1]
        out.append((attempt["picks"][0]["expert"], [(g["expert"], g["logit"], g["prob"]) for g in attempt["gate"]]))
    return out


def assert_same_state(a: dict, b: dict, where: str = "") -> None:
    assert sorted(a) == sorted(b), where
    for key in a:
        if isinstance(a[key], dict):
            assert_same_state(a[key], b[key], f"{where}{key}.")
        elif isinstance(a[key], np.ndarray):
            assert a[key].dtype == b[key].dtype and a[key].shape == b[key].shape, f"{where}{key}"
            assert np.array_equal(a[key], b[key]), f"{where}{key}"
        else:
            assert a[key] == b[key], f"{where}{key}"


def snapshot(path: Path) -> tuple[str, list[str]]:
    """The file's bytes (hashed) and the files beside it that share its name (-wal, -shm…)."""
    return hashlib.sha256(path.read_bytes()).hexdigest(), sorted(p.name for p in path.parent.glob(path.name + "*"))


# -- restarts ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", KINDS)
def test_router_state_survives_a_restart_exactly(kind):
    first = make_moe(kind)
    train(first, 40)
    saved = first.routers["r"].handle.state_dict()
    assert saved["updates"] == 40
    expected = decisions(first)
    first.close()

    second = make_moe(kind)
    try:
        restored = second.routers["r"].handle.state_dict()
        assert_same_state(restored, saved)
        # the exploration generator's state persists too, so the next decisions are the same
        assert decisions(second) == expected
    finally:
        second.close()


def test_a_logistic_router_with_a_length_feature_survives_a_restart_exactly():
    encoder = {"id": "hashing", "dim": 16, "length": True}
    first = make_moe("logistic", encoder=encoder)
    train(first, 40)
    saved = first.routers["r"].handle.state_dict()
    assert first.routers["r"].handle.model.dense == 2  # the length and the bias
    expected = decisions(first)
    first.close()
    second = make_moe("logistic", encoder=encoder)
    try:
        assert_same_state(second.routers["r"].handle.state_dict(), saved)
        assert decisions(second) == expected
    finally:
        second.close()
    # the same state under an encoder without the length feature is refused, not misread
    third = make_moe("logistic", encoder={"id": "hashing", "dim": 16})
    try:
        with pytest.raises(
            EncodeError, match="learned with a full-covariance block of 2 coordinates, its options now ask for 0"
        ):
            third.run_sync("request 1")
    finally:
        third.close()


def test_a_full_covariance_logistic_router_survives_a_restart_exactly():
    first = make_moe("logistic", covariance="full")
    train(first, 40)
    saved = first.routers["r"].handle.state_dict()
    assert first.routers["r"].handle.model.dense == 17  # 16 hashed coordinates and the bias, one block
    expected = decisions(first)
    first.close()
    second = make_moe("logistic", covariance="full")
    try:
        assert_same_state(second.routers["r"].handle.state_dict(), saved)
        assert decisions(second) == expected
    finally:
        second.close()


def test_a_fresh_state_file_decides_differently_than_a_trained_one():
    # the control for the test above: restoring is what makes the decisions equal
    trained = make_moe("linucb")
    train(trained, 40)
    expected = decisions(trained)
    trained.close()
    untrained = make_moe("linucb", state={"path": str(state_path().with_name("other.sqlite3"))})
    try:
        assert untrained.routers["r"].handle.updates == 0
        assert decisions(untrained) != expected
    finally:
        untrained.close()


def test_state_is_keyed_by_expert_id_so_a_new_expert_joins_without_losing_the_others():
    moe = make_moe("symbolic", ("alpha", "beta"))
    train(moe, 20)
    before = {ref.name: moe.routers["r"].handle.scores[int(ref.id)] for ref in moe.routers["r"].handle.experts}
    moe.close()
    moe = make_moe("symbolic", ("alpha", "beta", "gamma"))
    try:
        after = {ref.name: moe.routers["r"].handle.scores[int(ref.id)] for ref in moe.routers["r"].handle.experts}
    finally:
        moe.close()
    assert after["alpha"] == before["alpha"] and after["beta"] == before["beta"]
    assert after["gamma"].pulls == 0


def test_linear_weights_follow_their_experts_when_the_expert_set_changes():
    moe = make_moe("linear", ("beta", "delta"))
    train(moe, 20)
    router = moe.routers["r"].handle
    rows = {ref.name: router.weights[router.index[int(ref.id)]].copy() for ref in router.experts}
    moe.close()
    moe = make_moe("linear", ("alpha", "beta", "delta"))
    try:
        router = moe.routers["r"].handle
        for ref in router.experts:
            row = router.weights[router.index[int(ref.id)]]
            assert np.array_equal(row, rows[ref.name]) if ref.name in rows else not row.any()
    finally:
        moe.close()


def test_a_router_whose_kind_changed_starts_fresh():
    moe = make_moe("linucb")
    train(moe, 5)
    moe.close()
    moe = make_moe("linear")
    try:
        assert moe.routers["r"].handle.updates == 0
        train(moe, 1)  # the other kind's saved state is replaced, not loaded into this router
        assert moe.routers["r"].handle.updates == 1
    finally:
        moe.close()
    store = StateStore(state_path())
    try:
        assert store.load_router("r")[0]["kind"] == "linear"
    finally:
        store.close()


def test_expert_state_is_saved_and_restored():
    config = {"routers": {"r": {"kind": "static", "experts": ["learner"]}}}
    moe = HiMoE(experts=[LearningExpert("learner")], entry_points=False, environ={}, config=config)
    for reward in (1.0, 0.5, 0.25):
        moe.feedback(moe.run_sync("teach me").trace_id, reward=reward)
    moe.close()
    fresh = LearningExpert("learner")
    HiMoE(experts=[fresh], entry_points=False, environ={}, config=config).close()
    assert (fresh.learned_count, fresh.reward_sum) == (3, 1.75)


# -- what the file holds ---------------------------------------------------------------------------------
def test_arrays_are_stored_as_dtype_shape_and_raw_bytes_never_pickle():
    moe = make_moe("linucb")
    train(moe, 10)
    state = moe.routers["r"].handle.state_dict()
    moe.close()
    with sqlite3.connect(state_path()) as db:
        columns = [row[1] for row in db.execute("PRAGMA table_info(router_arrays)")]
        assert columns == ["router_id", "name", "dtype", "shape", "data"]
        rows = db.execute("SELECT name, dtype, shape, data FROM router_arrays WHERE router_id = 'r'").fetchall()
        scalars = json.loads(db.execute("SELECT scalars FROM router_state WHERE router_id = 'r'").fetchone()[0])
        blobs = [
            row[0]
            for table in ("router_arrays", "traces")
            for row in db.execute(f"SELECT {'data' if table == 'router_arrays' else 'input_data'} FROM {table}")
        ]
    assert {name for name, *_ in rows} == {"linucb.arms", "linucb.counts", "linucb.a_inv", "linucb.b"}
    for name, dtype, shape, data in rows:
        expected = state["linucb"][name.split(".")[1]]
        assert dtype == expected.dtype.str and json.loads(shape) == list(expected.shape)
        assert data == np.ascontiguousarray(expected).tobytes()
    assert scalars["kind"] == "linucb" and scalars["updates"] == 10 and scalars["linucb"]["dim"] == 17
    assert all(not blob.startswith(b"\x80") and b"numpy.core" not in blob for blob in blobs), "a pickle in the file"


def test_the_file_is_created_owner_only_whatever_the_umask():
    old = os.umask(0)
    try:
        moe = make_moe()
        train(moe, 2)
        files = list(state_path().parent.glob(state_path().name + "*"))  # with -wal and -shm while open
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in files}
        moe.close()
    finally:
        os.umask(old)
    assert modes and all(mode == 0o600 for mode in modes.values()), modes
    assert stat.S_IMODE(state_path().stat().st_mode) == 0o600


def test_state_disabled_writes_nothing(tmp_path):
    assert not state_path().exists()
    moe = make_moe(state={"enabled": False})
    train(moe, 5)
    assert moe.routers["r"].handle.updates == 5
    moe.close()
    assert list(tmp_path.iterdir()) == [], "no state file, no journal"


def test_state_path_in_the_config_wins_over_the_environment(tmp_path):
    chosen = tmp_path / "sub" / "dir" / "mine.sqlite3"
    moe = make_moe(state={"path": str(chosen)})
    train(moe, 3)
    moe.close()
    assert chosen.exists() and not state_path().exists()
    store = StateStore(chosen)
    try:
        assert store.count("feedback") == 3 and store.count("traces") == 3
    finally:
        store.close()


def test_traces_are_written_behind_and_on_close():
    moe = make_moe(state={"flush_every": 4})
    for i in range(6):
        moe.run_sync(f"request {i}")
    store = StateStore(state_path())
    try:
        deadline = time.monotonic() + 10
        while store.count("traces") < 4 and time.monotonic() < deadline:  # written behind, off the caller
            time.sleep(0.01)
        assert store.count("traces") == 4  # the first batch; the rest waits for the next batch or close
        moe.close()
        assert store.count("traces") == 6
    finally:
        store.close()


# -- files that are not ours --------------------------------------------------------------------------------
def corrupt_file(path: Path) -> None:
    path.write_bytes(b"this is not a database\n" * 200)


def foreign_database(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT)")
        db.execute("INSERT INTO users VALUES (1, 'ada')")
    db.close()


def foreign_meta_table(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE meta (id INTEGER PRIMARY KEY, payload BLOB)")
    db.close()


def newer_schema(path: Path) -> None:
    StateStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(SCHEMA_VERSION + 1),))
    db.close()


def another_applications_meta(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute("INSERT INTO meta VALUES ('application', 'someone-else')")
    db.close()


def no_schema_version(path: Path) -> None:
    StateStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("DELETE FROM meta WHERE key = 'schema_version'")
    db.close()


@pytest.mark.parametrize(
    "make, message",
    [
        (
            corrupt_file,
            r"is not a usable SQLite database \(file is not a database\); move it away or point HIMOE_STATE",
        ),
        (foreign_database, r"is a SQLite database of another application \(tables: users\); it was left untouched"),
        (foreign_meta_table, r"is a SQLite database of another application \(tables: meta\)"),
        (another_applications_meta, r"does not belong to himoe; it was left untouched"),
        (no_schema_version, r"has no valid schema version \(''\); it was left untouched"),
        (
            newer_schema,
            rf"has schema version {SCHEMA_VERSION + 1}, newer than this himoe understands "
            rf"\({SCHEMA_VERSION}\); upgrade himoe",
        ),
    ],
)
def test_a_file_that_is_not_a_usable_state_is_refused_and_left_untouched(make, message):
    path = state_path()
    make(path)
    before = snapshot(path)
    with pytest.raises(StateError, match=message) as info:
        make_moe()
    assert str(path) in str(info.value)
    assert snapshot(path) == before, "the file (or its journal) was modified"
    with pytest.raises(StateError):
        StateStore(path)
    assert snapshot(path) == before


# -- concurrent writers --------------------------------------------------------------------------------------
def hold_a_write_lock(path: Path) -> sqlite3.Connection:
    """A connection in the middle of a write transaction on a new, still rollback-journal file:
    what another process opening the same new state file looks like for an instant."""
    path.parent.mkdir(parents=True, exist_ok=True)
    holder = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_opening_waits_for_another_process_that_holds_the_new_file(tmp_path):
    path = tmp_path / "state.sqlite3"
    holder = hold_a_write_lock(path)
    release = threading.Timer(0.2, lambda: holder.execute("ROLLBACK"))
    release.start()
    try:
        store = StateStore(path)  # switching to WAL needs the lock the holder keeps for 0.2 s
    finally:
        release.join()
        holder.close()
    try:
        assert store.count("feedback") == 0
        assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        store.close()


def test_a_file_locked_for_too_long_is_a_clear_error_not_a_corruption(tmp_path, monkeypatch):
    monkeypatch.setattr("himoe_core.state.sqlite_state_store.LOCK_TIMEOUT_S", 0.2)
    path = tmp_path / "state.sqlite3"
    holder = hold_a_write_lock(path)
    try:
        with pytest.raises(StateError, match=r"stayed locked by another process for 0.2 s; retry when it is done"):
            StateStore(path)
    finally:
        holder.close()
    StateStore(path).close()  # usable once the other process let go


WORKER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from himoe_core import HiMoE
    from himoe_core.testing import ConstantExpert

    index, rounds, folder = int(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3])
    moe = HiMoE(experts=[ConstantExpert("alpha"), ConstantExpert("beta")], entry_points=False, environ={},
                config={"routers": {"r": {"kind": "linucb", "experts": ["alpha", "beta"],
                                          "encoder": {"id": "hashing", "dim": 16}}}})
    (folder / f"ready-{index}").touch()
    deadline = time.monotonic() + 30
    while not (folder / "go").exists() and time.monotonic() < deadline:
        time.sleep(0.002)
    for i in range(rounds):
        response = moe.run_sync(f"worker {index} request {i}")
        moe.feedback(response.trace_id, reward=float(i % 2))
    moe.close()
""")


def test_concurrent_processes_lose_no_feedback_and_no_update(tmp_path):
    workers, rounds = 4, 25
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(i), str(rounds), str(tmp_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(workers)
    ]
    try:
        deadline = time.monotonic() + 60
        while len(list(tmp_path.glob("ready-*"))) < workers and time.monotonic() < deadline:
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs if p.poll() is not None]
            time.sleep(0.01)
        (tmp_path / "go").touch()  # all start writing at once
        results = [p.communicate(timeout=60) + (p.returncode,) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert all(code == 0 for _, _, code in results), [err for _, err, _ in results]
    store = StateStore(state_path())
    try:
        assert store.count("feedback") == workers * rounds
        assert store.count("traces") == workers * rounds
        state, version = store.load_router("r")
    finally:
        store.close()
    assert version == workers * rounds
    assert state["updates"] == workers * rounds, "every update built on the one before (versioned reload)"
    assert int(state["linucb"]["counts"].sum()) == workers * rounds
    moe = make_moe("linucb", names=("alpha", "beta"))
    try:
        assert moe.routers["r"].handle.updates == workers * rounds
    finally:
        moe.close()


def test_a_state_file_another_process_creates_first_is_opened_not_an_error(monkeypatch):
    StateStore(state_path()).close()  # the other process wins the race to create the file…
    monkeypatch.setattr(Path, "exists", lambda self: False)  # …just after this one looked
    store = StateStore(state_path())
    try:
        assert store.count("traces") == 0
    finally:
        store.close()


def test_two_instances_on_one_file_build_on_each_other():
    a, b = make_moe(), make_moe()
    try:
        train(a, 3)
        train(b, 2, offset=3)
        assert b.routers["r"].handle.updates == 5, "b reloaded a's 3 updates before applying its own"
        train(a, 1, offset=5)
        assert a.routers["r"].handle.updates == 6
        a_arm_counts = a.routers["r"].handle.model.n
        assert sum(a_arm_counts.values()) == 6
    finally:
        a.close()
        b.close()
