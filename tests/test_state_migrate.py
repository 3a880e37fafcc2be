"""Issue 19: `himoe state migrate --to postgresql://…` copies an SQLite state file's whole state
into PostgreSQL (against the real server), and refuses a store that already holds state."""

from __future__ import annotations

import json

import pytest

from himoe_core import HiMoE
from himoe_core.state import PostgresStateStore, SqliteStateStore

CONFIG = {
    "routers": {"r": {"kind": "linucb", "experts": ["alpha", "beta"], "k": 1, "encoder": {"id": "hashing", "dim": 8}}}
}


def _engine(state: dict) -> HiMoE:
    from himoe_core.testing import ConstantExpert, LearningExpert

    return HiMoE(
        experts=[ConstantExpert("alpha", value="a"), LearningExpert("beta", value="b")],
        entry_points=False,
        environ={},
        config={**CONFIG, "state": state},
    )


@pytest.fixture
def state_file(tmp_path):
    path = tmp_path / "state.sqlite3"
    with _engine({"path": str(path)}) as moe:
        ids = [moe.run_sync(f"request {i} about {i % 3}").trace_id for i in range(20)]
        for i, trace_id in enumerate(ids[:12]):
            moe.feedback(trace_id, reward=float(i % 2))
    return path


def _everything(store) -> dict:
    return {
        "traces": store.traces(),
        "feedback": [{k: v for k, v in row.items() if k != "id"} for row in store.feedback()],
        "decisions": sorted(d for t in store.traces() for d in store.decisions(t["trace_id"])),
        "scored": store.scored_decisions(),
        "routers": {r: store.load_router(r)[1] for r in store.saved_routers()},
        "experts": {e: store.load_expert(e) for e, _ in store.saved_experts()},
        "stats": (sorted(store.summary_groups()), store.reward_summary(), store.latency_percentiles((50, 95))),
    }


def test_migrate_copies_the_whole_state_and_an_engine_carries_on_from_it(state_file, postgres_url, himoe_main):
    result = himoe_main(["state", "migrate", "--from", str(state_file), "--to", postgres_url, "--json"])
    assert result.code == 0, result
    copied = json.loads(result.out)["copied"]
    assert (copied["traces"], copied["decisions"], copied["feedback"]) == (20, 20, 12)
    files, target = SqliteStateStore(state_file), PostgresStateStore(postgres_url)
    try:
        before, after = _everything(files), _everything(target)
        assert after == before
        router_state, version = target.load_router("r")
        saved_state, saved_version = files.load_router("r")
        assert version == saved_version == 12 and router_state["updates"] == saved_state["updates"]
        assert target.count("traces") == 20
        joined = target.joined_decisions(reward_window_s=3600, default_reward=None, now=0.0)
        assert [j.trace_id for j in joined][:12] == [row["trace_id"] for row in before["feedback"]]
    finally:
        files.close()
        target.close()
    with _engine({"url": postgres_url}) as moe:  # a replica on the copy builds on what the file learned
        assert moe.routers["r"].handle.updates == 12
        moe.feedback(moe.run_sync("one more").trace_id, reward=1.0)
        assert moe.routers["r"].handle.model_version == 13


def test_migrate_refuses_a_store_that_holds_state_and_changes_nothing(state_file, postgres_url, himoe_main):
    assert himoe_main(["state", "migrate", "--from", str(state_file), "--to", postgres_url]).code == 0
    again = himoe_main(["state", "migrate", "--from", str(state_file), "--to", postgres_url])
    line = again.error_line()
    assert "already holds state (20 traces" in line and "nothing was copied" in line
    target = PostgresStateStore(postgres_url)
    try:
        assert target.count("traces") == 20 and target.count("feedback") == 12
    finally:
        target.close()


def test_migrate_uses_the_configured_file_and_names_bad_targets(state_file, tmp_path, himoe_main, postgres_url):
    config = tmp_path / "himoe.toml"
    config.write_text(f'[state]\npath = "{state_file}"\n')
    done = himoe_main(["state", "migrate", "--config", str(config), "--to", postgres_url])
    assert done.code == 0 and "20 traces" in done.out and str(state_file) in done.out, done
    bad = himoe_main(["state", "migrate", "--config", str(config), "--to", "mysql://u:s3cret@h/db"])
    assert "is not a PostgreSQL URL" in bad.error_line() and "s3cret" not in bad.err
    missing = himoe_main(["state", "migrate", "--from", str(tmp_path / "none.sqlite3"), "--to", postgres_url])
    assert "no state file" in missing.error_line()
    down = himoe_main(["state", "migrate", "--config", str(config), "--to", "postgresql://u:s3cret@127.0.0.1:1/db"])
    assert "cannot reach" in down.error_line() and "s3cret" not in down.err
