"""Issue 19: one contract for both state-store backends, the SQLite file and PostgreSQL. Every
behaviour the engine relies on, run against each (PostgreSQL in a schema of the test's own; see
tests/conftest.py for where the server comes from)."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import pytest

from himoe_core import StateError
from himoe_core.state import SCHEMA_VERSION, DecisionEvent, StateStore, open_state_store


@pytest.fixture(params=["sqlite", "postgres"])
def location(request, tmp_path):
    """Where a store lives: a file, or a PostgreSQL schema of this test's own."""
    if request.param == "sqlite":
        return str(tmp_path / "state.sqlite3")
    return request.getfixturevalue("postgres_url")


@pytest.fixture
def open_store(location):
    opened: list[StateStore] = []

    def open_(**retention) -> StateStore:
        store = open_state_store(location, **retention)
        opened.append(store)
        return store

    yield open_
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store):
    return open_store(retention_days=0, max_traces=0)


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


def _event(trace_id: str, router: str = "r", *, created: float, record: str | None = None) -> DecisionEvent:
    return DecisionEvent(
        f"e-{trace_id}-{router}", trace_id, router, record or f"rec-{trace_id}", "replica-1", 3, created
    )


# -- traces ----------------------------------------------------------------------------------------------------
def test_traces_round_trip_and_a_repeated_id_replaces_the_trace(store):
    _record(store, ["a", "b"])
    trace, kind, task, data = store.trace("a")
    assert (trace["trace_id"], kind, task, data) == ("a", "text", None, b"input a")
    assert store.trace("nope") is None
    replaced = _trace("a", elapsed=9.0)
    store.record_trace_rows([("a", "r", "bytes", "t", b"\x00\xff", json.dumps(replaced))])
    assert store.trace("a") == (replaced, "bytes", "t", b"\x00\xff")
    assert store.count("traces") == store.count("trace_summaries") == 2
    assert [t["trace_id"] for t in store.traces()] == ["b", "a"]  # a, written again, is now the newest
    assert [t["trace_id"] for t in store.traces(limit=1)] == ["a"]


def test_one_batch_may_hold_a_trace_twice_the_last_wins(store):
    first, second = _trace("a", elapsed=1.0), _trace("a", elapsed=2.0)
    store.record_trace_rows(
        [("a", "r", "text", None, b"1", json.dumps(first)), ("a", "r", "text", None, b"2", json.dumps(second))]
    )
    assert store.trace("a") == (second, "text", None, b"2")
    assert store.count("traces") == 1


# -- decisions and feedback --------------------------------------------------------------------------------------
def test_decisions_are_appended_once_and_scored_decisions_join_the_served_one(store):
    _record(store, ["a", "b"])
    now = time.time()
    store.record_decisions([_event("a", created=now), _event("a", "shadow", created=now), _event("b", created=now)])
    store.record_decisions([_event("a", created=now, record="rewritten")])  # appended once: kept as it was
    assert sorted(store.decisions("a")) == ["rec-a", "rec-a"]
    assert store.count("decisions") == 3
    store.record_feedback("b", "r", 0.25, 0.75, {"rewards": {}}, event_id="f1", replica="replica-2")
    store.record_feedback("a", "r", 1.0, 0.0, {"rewards": {"x": 1.0}})
    store.record_feedback("a", "r", None, None, {"shadow_scores": {"shadow": 0.5}})
    assert store.scored_decisions() == [("rec-b", 0.25), ("rec-a", 1.0)]
    rows = store.feedback_for("a")
    assert [(r["reward"], r["task_loss"], r.get("rewards"), r.get("shadow_scores")) for r in rows] == [
        (1.0, 0.0, {"x": 1.0}, None),
        (None, None, None, {"shadow": 0.5}),
    ]
    assert [r["trace_id"] for r in store.feedback()] == ["b", "a", "a"]
    assert store.reward_summary() == (2, pytest.approx(0.625))


def test_the_log_keeps_the_order_a_batch_was_written_in(store):
    """A learner consumes the log in the order decisions were appended, and traces written
    together are listed in their order: a batch is several hundred requests, in neither id
    nor any other order."""
    ids = [f"{(i * 919) % 1000:03d}" for i in range(300)]  # distinct, unsorted
    _record(store, ids)
    now = time.time()
    store.record_decisions([_event(trace_id, created=now - 10) for trace_id in ids])
    joined = store.joined_decisions(reward_window_s=1.0, default_reward=0.0, now=now)
    assert [j.trace_id for j in joined] == ids
    assert [j.position for j in joined] == sorted(j.position for j in joined)
    assert [t["trace_id"] for t in store.traces()] == ids


def test_feedback_joins_its_decision_within_the_reward_window(store):
    _record(store, ["on-time", "late", "silent", "waiting"])
    now = time.time()
    store.record_decisions(
        [
            _event("on-time", created=now - 5),
            _event("late", created=now - 100),
            _event("silent", created=now - 100),
            _event("waiting", created=now - 1),
        ]
    )
    store.record_feedback("on-time", "r", 0.9, 0.1, {})
    store.record_feedback("late", "r", 0.7, 0.3, {})  # now: 100 s after its decision, past the window of 10
    window = {"reward_window_s": 10.0, "now": now + 1}
    joined = store.joined_decisions(default_reward=None, **window)
    assert [(j.trace_id, j.reward, j.defaulted) for j in joined] == [("on-time", 0.9, False)]
    joined = store.joined_decisions(default_reward=0.0, **window)
    assert [(j.trace_id, j.reward, j.defaulted) for j in joined] == [
        ("on-time", 0.9, False),
        ("late", 0.0, True),
        ("silent", 0.0, True),
    ]  # "waiting" has its window open: the join stops before it, so a consumer never skips it
    first = joined[0]
    assert (first.event_id, first.replica, first.model_version, first.router) == ("e-on-time-r", "replica-1", 3, "r")
    rest = store.joined_decisions(default_reward=0.0, after=joined[1].position, **window)
    assert [j.trace_id for j in rest] == ["silent"]
    later = store.joined_decisions(default_reward=0.0, reward_window_s=10.0, now=now + 20)
    assert [j.trace_id for j in later] == ["on-time", "late", "silent", "waiting"]
    assert store.feedback_timeliness(10.0) == (1, 1)
    assert store.feedback_timeliness(1000.0) == (2, 0)


# -- router and expert state -----------------------------------------------------------------------------------
def test_router_state_round_trips_with_arrays_at_any_depth_and_a_version(store):
    state = {
        "kind": "linucb",
        "alpha": 0.5,
        "names": ["a", "b"],
        "model": {"A": np.arange(6, dtype=np.float64).reshape(2, 3), "inner": {"b": np.array([1, 2], dtype=np.int32)}},
    }
    assert store.load_router("r") is None and store.router_version("r") == 0
    store.save_router("r", state, 7)
    loaded, version = store.load_router("r")
    assert version == 7 and store.router_version("r") == 7
    np.testing.assert_array_equal(loaded["model"]["A"], state["model"]["A"])
    assert loaded["model"]["inner"]["b"].dtype == np.int32
    assert {k: loaded[k] for k in ("kind", "alpha", "names")} == {"kind": "linucb", "alpha": 0.5, "names": ["a", "b"]}
    store.save_router("r", {"kind": "linucb", "model": {"A": np.zeros(1)}}, 8)
    assert set(store.load_router("r")[0]["model"]) == {"A"}  # arrays of the old version are gone
    assert store.saved_routers() == ["r"]


def test_reset_router_saves_the_fresh_state_as_a_new_version_or_forgets_it(store):
    store.save_router("r", {"kind": "linear", "w": np.ones(2)}, 4)
    assert store.reset_router("r", {"kind": "linear", "w": np.zeros(2)})
    state, version = store.load_router("r")
    assert version == 5 and not state["w"].any()
    assert store.reset_router("r") and store.load_router("r") is None
    assert not store.reset_router("r")


def test_expert_state_is_versioned_and_reset_by_name_or_id(store):
    assert store.load_expert("e1") is None and store.expert_version("e1") == 0
    store.save_expert("e1", "alpha", {"n": 1}, 1)
    store.save_expert("e1", "alpha", {"n": 2}, 2)
    store.save_expert("e2", "beta", {"n": 5})
    assert store.load_expert("e1") == ({"n": 2}, 2) and store.expert_version("e1") == 2
    assert store.saved_experts() == [("e1", "alpha"), ("e2", "beta")]
    assert store.reset_experts("beta") == 1
    assert store.reset_experts("e1") == 1
    store.save_expert("e3", "gamma", {})
    assert store.reset_experts() == 1 and store.saved_experts() == []


def test_exclusive_is_one_transaction_nested_calls_join_and_an_error_rolls_back(store):
    with pytest.raises(RuntimeError), store.exclusive():
        store.save_router("r", {"kind": "k"}, 1)
        with store.exclusive():
            store.save_expert("e", "alpha", {"n": 1}, 1)
        assert store.router_version("r") == 1  # its own writes are visible inside
        raise RuntimeError("learning failed")
    assert store.load_router("r") is None and store.load_expert("e") is None


def test_exclusive_serialises_read_then_write_across_stores(open_store):
    """What learning relies on: read the version, write the next; two stores (two processes' worth)
    in threads, no increment lost."""
    stores = [open_store(retention_days=0, max_traces=0) for _ in range(2)]

    def bump(store: StateStore) -> None:
        for _ in range(40):
            with store.exclusive():
                saved = store.load_expert("e")
                n = saved[1] if saved else 0
                store.save_expert("e", "counter", {"n": n + 1}, n + 1)

    threads = [threading.Thread(target=bump, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert stores[0].load_expert("e") == ({"n": 80}, 80)


# -- retention -------------------------------------------------------------------------------------------------
def test_retention_by_count_prunes_the_oldest_traces_with_their_feedback_and_decisions(open_store):
    store = open_store(retention_days=0, max_traces=5)
    now = time.time()
    for n in range(8):
        _record(store, [f"t{n}"], created=now + n)
        store.record_decisions([_event(f"t{n}", created=now + n)])
    store.record_feedback("t3", "r", 1.0, 0.0, {})  # the oldest trace kept, until t8 comes
    _record(store, ["t8"], created=now + 8)
    assert [t["trace_id"] for t in store.traces()] == ["t4", "t5", "t6", "t7", "t8"]
    assert store.count("feedback") == 0 and store.count("decisions") == 4
    assert store.count("trace_summaries") == 5


def test_retention_by_age_prunes_traces_older_than_the_limit(open_store):
    store = open_store(retention_days=1, max_traces=0)
    now = time.time()
    _record(store, ["old"], created=now - 3 * 86400)
    _record(store, ["new"], created=now)
    assert [t["trace_id"] for t in store.traces()] == ["new"]


# -- what stats reads --------------------------------------------------------------------------------------------
def test_stats_queries(store):
    latencies = [5.0, 1.0, 3.0, 2.0, 4.0, 10.0]
    store.record_traces([(_trace(f"t{i}", elapsed=v), "text", None, b"") for i, v in enumerate(latencies)])
    store.record_traces([(_trace("bad", ok=False), "text", None, b"")])
    percentiles = store.latency_percentiles((50, 95))
    assert percentiles[50] == pytest.approx(float(np.percentile(latencies, 50)))
    assert percentiles[95] == pytest.approx(float(np.percentile(latencies, 95)))
    groups = sorted(store.summary_groups(), key=lambda g: g[0])
    assert [(g[0], g[4]) for g in groups] == [(0, 1), (1, 6)]
    answered = groups[1]
    assert answered[2] == "r" and answered[5] == pytest.approx(9.0) and answered[6] == 6
    assert [json.loads(t)["trace_id"] for t in store.recent_answered_traces(2)] == ["t5", "t4"]
    store.record_feedback("t0", "r", 1.0, 0.0, {})
    store.record_feedback("t1", "r", 0.0, 1.0, {})
    bins = store.calibration_bins()
    assert [(b, n) for b, n, *_ in bins] == [(7, 2)]  # confidence 0.8 of each: (0.7, 0.8]
    assert bins[0][2] == pytest.approx(1.0) and bins[0][3] == pytest.approx(1.6)


def test_empty_stats(store):
    assert store.latency_percentiles((50,)) == {50: None}
    assert store.summary_groups() == [] and store.reward_summary() == (0, None)
    assert store.recent_answered_traces(5) == [] and store.calibration_bins() == []


# Issue 17, D11: what stats reads is kept as running totals. The oracle is the GROUP BY over the
# kept rows that stats ran before (a pass over every request: 7-10 s at a million).
_GROUPS = (
    "SELECT answered, error_kind, router, picks, COUNT(*), SUM(cost_units), COUNT(cost_units), SUM(disagreement), "
    "COUNT(disagreement) FROM trace_summaries GROUP BY answered, error_kind, router, picks"
)
_EDGES = [float(e) for e in np.linspace(0.0, 1.0, 11)[1:-1]]
_BINS = (
    "SELECT CASE "
    + " ".join(f"WHEN confidence <= ? THEN {i}" for i in range(len(_EDGES)))
    + " ELSE 9 END AS bin, COUNT(*), SUM(CASE WHEN reward >= 0.5 THEN 1.0 ELSE 0.0 END), SUM(confidence) "
    "FROM feedback WHERE reward IS NOT NULL AND confidence IS NOT NULL GROUP BY bin ORDER BY bin"
)


def _recomputed(store) -> tuple:
    """(summary groups, reward summary, calibration bins) as the old passes over the rows found them."""
    groups = sorted(
        (a, e, r, p, n, cost or 0.0, costs, dis or 0.0, diss)
        for a, e, r, p, n, cost, costs, dis, diss in store._read(_GROUPS)
    )
    count, mean = store._read("SELECT COUNT(reward), AVG(reward) FROM feedback")[0]
    bins = [(int(b), int(n), float(c), float(s)) for b, n, c, s in store._read(_BINS, _EDGES)]
    return groups, (int(count), mean), bins


def _from_totals(store) -> tuple:
    return sorted(store.summary_groups()), store.reward_summary(), store.calibration_bins()


def _assert_same_totals(found, expected) -> None:
    (groups, (count, mean), bins), (old_groups, (old_count, old_mean), old_bins) = found, expected
    assert [g[:5] for g in groups] == [g[:5] for g in old_groups]  # the keys and request counts
    for new, old in zip(groups, old_groups):
        assert new[5:] == pytest.approx(old[5:], rel=1e-9, abs=1e-12)  # sums in another order
    assert count == old_count and mean == pytest.approx(old_mean, rel=1e-12)
    assert [b[:2] for b in bins] == [b[:2] for b in old_bins]
    for new, old in zip(bins, old_bins):
        assert new[2:] == pytest.approx(old[2:], rel=1e-12)


def _busy_log(store, rng) -> None:
    """Traces of several routers, pick sets and errors, some written twice (a shadow's answer:
    the summary replaced), feedback with and without a reward, on known and unknown traces."""
    for batch in range(6):
        rows = []
        for i in range(40):
            n = batch * 40 + i
            if rng.random() < 0.1:
                trace = _trace(f"t{n}", ok=False)
                trace["error"] = rng.choice(["NoExpertSelected: x", "DeadlineExceeded: y"])
            else:
                trace = _trace(
                    f"t{n}",
                    elapsed=float(rng.exponential(5.0)),
                    picks=tuple(rng.choice(["alpha", "beta", "gamma"], size=int(rng.integers(1, 3)), replace=False)),
                    confidence=float(rng.choice([0.05, 0.1, 0.3, 0.5, 0.55, 0.9, 1.0, float(rng.random())])),
                )
                trace["router"] = rng.choice(["r", "s"])
                trace["attempts"][0]["mix"]["cost_units"] = float(rng.random())
            rows.append((trace["trace_id"], trace["router"], "text", None, b"x", json.dumps(trace)))
        again = json.loads(rows[3][5])
        again["attempts"] = again.get("attempts") or []
        again.pop("elapsed_ms", None)
        rows.append((rows[3][0], "s", "text", None, b"y", json.dumps({**again, "router": "s"})))
        store.record_trace_rows(rows)
        if batch:
            store.record_trace_rows(
                [
                    (
                        f"t{batch * 40 - 5}",
                        "r",
                        "text",
                        None,
                        b"z",
                        json.dumps(_trace(f"t{batch * 40 - 5}", picks=("gamma",))),
                    )
                ]
            )
        for i in range(0, 40, 3):
            reward = rng.choice([None, 0.0, 0.25, 0.5, 1.0, float(rng.random())])
            store.record_feedback(f"t{batch * 40 + i}", "r", reward, None, {})
        store.record_feedback("never-recorded", "r", 0.75, None, {})


def test_stats_totals_equal_the_old_passes_over_the_rows(store):
    _busy_log(store, np.random.default_rng(7))
    expected = _recomputed(store)
    assert len(expected[0]) >= 10 and len(expected[2]) >= 5  # many groups, many bins
    _assert_same_totals(_from_totals(store), expected)


def test_stats_totals_survive_pruning(open_store):
    store = open_store(retention_days=0, max_traces=4)
    now = time.time()
    for n in range(10):
        _record(store, [f"t{n}"], created=now + n)
        store.record_feedback(f"t{n}", "r", 1.0 if n % 2 else 0.0, None, {})
    store.record_traces([(_trace("bad", ok=False), "text", None, b"")], created=now + 10)
    assert store.count("trace_summaries") == 4 and store.count("feedback") == 3
    groups = sorted(store.summary_groups(), key=lambda g: g[0])
    assert [(g[0], g[4]) for g in groups] == [(0, 1), (1, 10)]  # every request, the pruned too
    assert groups[1][5] == pytest.approx(15.0) and groups[1][6] == 10
    assert store.reward_summary() == (10, pytest.approx(0.5))
    assert [(b, n) for b, n, *_ in store.calibration_bins()] == [(7, 10)]


def test_a_version_4_store_gets_its_totals_from_the_rows_it_kept(open_store):
    first = open_store(retention_days=0, max_traces=0)
    _busy_log(first, np.random.default_rng(11))
    expected = _recomputed(first)
    first._write(
        [
            ("DROP TABLE stats_totals", ()),
            ("DROP TABLE feedback_totals", ()),
            ("UPDATE meta SET value = '4' WHERE key = 'schema_version'", ()),
        ]
    )
    first.close()
    store = open_store(retention_days=0, max_traces=0)
    assert store._read("SELECT value FROM meta WHERE key = 'schema_version'") == [(str(SCHEMA_VERSION),)]
    _assert_same_totals(_from_totals(store), expected)
    _record(store, ["after"])  # and counts on from there
    assert sum(g[4] for g in store.summary_groups()) == sum(g[4] for g in expected[0]) + 1


# -- opening -----------------------------------------------------------------------------------------------------
def test_state_outlives_the_store_and_is_migrated_to_the_current_version(open_store):
    first = open_store()
    _record(first, ["a"])
    first.save_router("r", {"kind": "k", "w": np.ones(3)}, 2)
    first.close()
    again = open_store()
    assert again.trace("a")[0]["trace_id"] == "a" and again.router_version("r") == 2
    assert again._read("SELECT value FROM meta WHERE key = 'schema_version'") == [(str(SCHEMA_VERSION),)]


def test_a_store_of_a_newer_himoe_is_refused_untouched(open_store):
    open_store()._write([("UPDATE meta SET value = '99' WHERE key = 'schema_version'", ())])
    with pytest.raises(StateError, match=rf"schema version 99, newer than this himoe understands \({SCHEMA_VERSION}\)"):
        open_store()


def test_unknown_count_table_is_refused(store):
    with pytest.raises(ValueError, match="unknown table"):
        store.count("meta; DROP TABLE traces")
