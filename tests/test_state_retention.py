"""Issue 17, D11: the state file keeps traces for a configured age and count (pruned a bounded
number of rows per write), and `himoe stats` aggregates in SQL instead of loading every trace."""

from __future__ import annotations

import json
import sqlite3
import time

import numpy as np
import pytest

from himoe_core import ConfigError, HiMoE, InvalidInput, NoExpertSelected
from himoe_core._config.config_parsing import load_config
from himoe_core._learning.metrics import compute_stats, stored_stats
from himoe_core.state import sqlite_state_store as state_store
from himoe_core.state.sqlite_state_store import SqliteStateStore as StateStore
from himoe_core.testing import ConstantExpert, FailingExpert


def _trace(trace_id: str, *, ok: bool = True, elapsed: float = 1.0, picks=("alpha",), confidence=0.8) -> dict:
    if not ok:
        return {"trace_id": trace_id, "router": None, "error": "NoExpertSelected: nothing", "attempts": []}
    return {
        "trace_id": trace_id,
        "router": "r",
        "error": None,
        "elapsed_ms": elapsed,
        "attempts": [
            {
                "status": "ok",
                "picks": [{"expert": p} for p in picks],
                "gate": [{"expert": p, "prob": 1 / len(picks)} for p in picks],
                "calls": [{"expert": p, "confidence": confidence} for p in picks],
                "mix": {"weights": {p: 1 / len(picks) for p in picks}, "cost_units": 1.5, "disagreement": 0.25},
            }
        ],
    }


def _record(store: StateStore, ids, **options) -> None:
    store.record_traces([(_trace(i), "text", None, b"input " + i.encode()) for i in ids], **options)


def _kept(store: StateStore) -> list[str]:
    return [row[0] for row in store._read("SELECT trace_id FROM traces ORDER BY created, rowid")]


def _stats_of_real_traffic(tmp_path, **state):
    experts = [
        ConstantExpert("alpha", value="yes", confidence=0.9, cost_units=2.0),
        ConstantExpert("beta", value="no", confidence=0.6, cost_units=1.0, prefix="b"),
        FailingExpert("broken"),
    ]
    config = {
        "routers": {
            "r": {
                "kind": "linucb",
                "experts": ["alpha", "beta"],
                "k": 2,
                "aggregator": "weighted_vote",
                "encoder": {"id": "hashing", "dim": 16},
                "gating": {"seed": 1},
            },
            "fails": {"kind": "static", "experts": ["broken"]},
        },
        "state": {"path": str(tmp_path / "s.sqlite3"), **state},
    }
    with HiMoE(experts=experts, entry_points=False, environ={}, config=config) as moe:
        for i in range(60):
            response = moe.run_sync(f"b question {i}" if i % 3 else f"a question {i}")
            if i % 2 == 0:
                moe.feedback(response.trace_id, reward=1.0 if response.value.as_text() == "yes" else 0.25)
            if i % 7 == 0:
                with pytest.raises(NoExpertSelected):
                    moe.run_sync("this one fails", router="fails")
        moe.trainer.flush()
        store = moe.trainer.store
        return moe.stats(window=10), compute_stats(store.traces(), store.feedback(), window=10)


def _assert_same_stats(new: dict, reference: dict) -> None:
    # what only the decision log knows (HiMoE.stats adds it; the in-memory reference has no log)
    new = {k: v for k, v in new.items() if k not in {"feedback_late", "reward_window_s"}}
    assert set(new) == set(reference)
    for key, value in reference.items():
        if isinstance(value, dict):
            assert set(new[key]) == set(value), key
            for inner, x in value.items():
                assert new[key][inner] == pytest.approx(x, rel=1e-9, abs=1e-12), (key, inner)
        elif isinstance(value, float):
            assert new[key] == pytest.approx(value, rel=1e-9, abs=1e-12), key
        else:
            assert new[key] == value, key


# -- stats in SQL ---------------------------------------------------------------------------------------------
def test_stats_from_sql_equal_the_in_memory_reference_on_real_traffic(tmp_path):
    new, reference = _stats_of_real_traffic(tmp_path)
    assert reference["requests"] == 69 and reference["errors"] == {"NoExpertSelected": 9}
    assert reference["gating_drift_kl"] is not None and reference["calibration_ece"] is not None
    _assert_same_stats(new, reference)


def test_stats_never_reads_every_trace(tmp_path, monkeypatch):
    """The old stats parsed every trace's JSON (50,000 requests: 8.8 s, 484 MB); it reads only
    the last 2·window traces whole now."""
    store = StateStore(tmp_path / "s.sqlite3")
    _record(store, [f"t{i}" for i in range(300)])
    monkeypatch.setattr(StateStore, "traces", lambda *a, **k: pytest.fail("stats loaded every trace"))
    monkeypatch.setattr(StateStore, "feedback", lambda *a, **k: pytest.fail("stats loaded every feedback row"))
    parsed = []
    real_loads = json.loads
    monkeypatch.setattr(
        state_store.json, "loads", lambda text, *a, **k: parsed.append(text[:1]) or real_loads(text, *a, **k)
    )
    stats = stored_stats(store, window=20)
    assert stats["requests"] == 300 and stats["gating_drift_kl"] == 0.0
    assert parsed.count("{") == 40  # the two windows' traces (and a list of picks per distinct set)


def test_stats_on_an_empty_state_file(tmp_path):
    stats = stored_stats(StateStore(tmp_path / "s.sqlite3"))
    assert stats == compute_stats([], [])


def test_latency_percentiles_interpolate_as_numpy_does(tmp_path):
    store = StateStore(tmp_path / "s.sqlite3")
    rng = np.random.default_rng(3)
    elapsed = rng.exponential(20.0, 257)
    store.record_traces([(_trace(f"t{i}", elapsed=float(e)), "text", None, b"x") for i, e in enumerate(elapsed)])
    store.record_traces([(_trace("failed", ok=False), "text", None, b"x")])
    found = store.latency_percentiles((0, 50, 95, 99.9, 100))
    for q, value in found.items():
        assert value == pytest.approx(np.percentile(elapsed, q), rel=1e-12)


# -- retention ------------------------------------------------------------------------------------------------
def test_max_traces_keeps_the_newest_with_their_feedback(tmp_path):
    store = StateStore(tmp_path / "s.sqlite3", retention_days=0, max_traces=50)
    for batch in range(10):
        ids = [f"t{batch}-{i}" for i in range(20)]
        _record(store, ids)
        store.record_feedback(ids[0], "r", 1.0, 0.0, {"rewards": {}})
    assert _kept(store) == [f"t{b}-{i}" for b in range(7, 10) for i in range(20)][-50:]
    assert store.count("trace_summaries") == 50
    assert {row["trace_id"] for row in store.feedback()} == {"t8-0", "t9-0"}
    stats = stored_stats(store)  # lifetime totals: the pruned requests and rewards still count
    assert (stats["requests"], stats["answered"], stats["feedback"], stats["quality"]) == (200, 200, 10, 1.0)


def test_a_trace_written_again_counts_once(tmp_path):
    store = StateStore(tmp_path / "s.sqlite3", retention_days=0, max_traces=10)
    _record(store, [f"t{i}" for i in range(10)])
    for _ in range(3):  # a shadow's answer came in: the same traces saved again
        _record(store, [f"t{i}" for i in range(10)] + ["t3", "t3"])
    assert sorted(_kept(store)) == sorted(f"t{i}" for i in range(10))
    _record(store, ["new"])
    assert len(_kept(store)) == 10 and "new" in _kept(store)


def test_retention_days_drops_old_traces_at_the_next_write(tmp_path):
    store = StateStore(tmp_path / "s.sqlite3", retention_days=7, max_traces=0)
    now = time.time()
    _record(store, ["old1", "old2"], created=now - 8 * 86400)
    _record(store, ["recent"], created=now - 6 * 86400)
    assert _kept(store) == ["recent"]
    _record(store, ["today"])
    assert _kept(store) == ["recent", "today"]


def test_each_write_prunes_a_bounded_number_of_rows(tmp_path):
    path = tmp_path / "s.sqlite3"
    store = StateStore(path, retention_days=0, max_traces=0)
    _record(store, [f"t{i}" for i in range(2000)])
    store.close()
    store = StateStore(path, retention_days=0, max_traces=100)  # a limit lowered under a full file
    statements = []
    store._conn.set_trace_callback(statements.append)
    _record(store, ["a"])
    assert store.count("traces") == 2001 - state_store.PRUNE_AT_LEAST
    assert not any("COUNT(*) FROM trace_summaries" in s and "IN (" not in s for s in statements)  # no full count
    writes = 1
    while store.count("traces") > 100:
        _record(store, [f"b{writes}"])
        writes += 1
    assert store.count("traces") == 100 and writes == 8


def test_feedback_on_a_pruned_trace_is_a_clear_invalid_input(tmp_path):
    config = {
        "routers": {"r": {"kind": "linear", "experts": ["alpha", "beta"], "encoder": {"id": "hashing", "dim": 16}}},
        "state": {"path": str(tmp_path / "s.sqlite3"), "flush_every": 1, "max_traces": 3},
    }
    experts = [ConstantExpert("alpha"), ConstantExpert("beta")]
    with HiMoE(experts=experts, entry_points=False, environ={}, config=config) as moe:
        first = moe.run_sync("question 0").trace_id
        kept = [moe.run_sync(f"question {i}").trace_id for i in range(1, 6)][-3:]
    with HiMoE(experts=experts, entry_points=False, environ={}, config=config) as moe:  # a later process
        with pytest.raises(
            InvalidInput,
            match=r"older than the state file keeps \(\[state\] retention_days = 30, "
            r"max_traces = 3\)",
        ):
            moe.feedback(first, reward=1.0)
        assert moe.trainer.store.count("traces") == 3
        moe.feedback(kept[0], reward=1.0)


def test_the_state_file_stays_bounded(tmp_path):
    path = tmp_path / "s.sqlite3"
    store = StateStore(path, retention_days=0, max_traces=500)
    sizes = []
    for round_ in range(12):
        _record(store, [f"r{round_}-{i}" for i in range(250)])
        store._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        sizes.append(path.stat().st_size)
    assert store.count("traces") == 500
    assert max(sizes[4:]) <= sizes[3] * 1.05  # the freed pages are reused: it grew no further


# -- migration ------------------------------------------------------------------------------------------------
def test_a_version_1_file_is_summarised_when_opened(tmp_path):
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(state_store._SCHEMA_V1)
    conn.execute("INSERT INTO meta VALUES ('application', 'himoe'), ('schema_version', '1')")
    traces = [_trace(f"t{i}", elapsed=float(i), confidence=i / 10) for i in range(10)] + [_trace("bad", ok=False)]
    for n, trace in enumerate(traces):
        conn.execute(
            "INSERT INTO traces VALUES (?, ?, ?, 'text', NULL, x'00', ?)",
            (trace["trace_id"], 1000.0 + n, trace["router"], json.dumps(trace)),
        )
    conn.execute(
        "INSERT INTO feedback (trace_id, created, router, reward, task_loss, detail) "
        "VALUES ('t3', 2000.0, 'r', 1.0, 0.0, '{}'), ('t7', 2001.0, 'r', 0.0, 1.0, '{}')"
    )
    conn.execute("INSERT INTO expert_state VALUES ('e', 'alpha', '{}', 1.0)")
    conn.commit()
    conn.close()
    path.chmod(0o600)
    store = StateStore(path, retention_days=0, max_traces=0)
    assert store._read("SELECT value FROM meta WHERE key = 'schema_version'") == [(str(state_store.SCHEMA_VERSION),)]
    _assert_same_stats(stored_stats(store, window=3), compute_stats(traces, store.feedback(), window=3))
    assert store.load_expert("e") == ({}, 0)


# -- configuration --------------------------------------------------------------------------------------------
def test_retention_defaults_and_bad_values():
    state = load_config({})["state"]
    assert (state["retention_days"], state["max_traces"]) == (30.0, 100_000)
    assert load_config({"state": {"retention_days": 0, "max_traces": 0}})["state"]["max_traces"] == 0
    for key, value, message in [
        ("retention_days", -1, r"state.retention_days: expected a number >= 0, got -1"),
        ("retention_days", "30d", r"state.retention_days: expected a number, got '30d'"),
        ("retention_days", float("nan"), r"state.retention_days: expected a number, got nan"),
        ("retention_days", float("inf"), r"state.retention_days: expected at most 36500000 days"),
        ("max_traces", -5, r"state.max_traces: expected an integer >= 0, got -5"),
        ("max_traces", 1.5, r"state.max_traces: expected an integer, got 1.5"),
        ("max_traces", 2**64, r"state.max_traces: expected at most 9007199254740992"),
    ]:
        with pytest.raises(ConfigError, match=message):
            load_config({"state": {key: value}})
