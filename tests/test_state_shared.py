"""Issue 19 (and issue 17's D3): learning through either state store, shared by processes.

- Learning experts' state is versioned like routers': each update reloads what another process
  saved, inside the learning transaction, so 4 processes × 200 updates keep 800 of 800 — with
  one engine per process and with a new engine per step (as the CLI makes), on both backends.
- An engine on PostgreSQL routes, logs its decisions, learns and restores as one on a file does.
- `[state] url` and HIMOE_STATE_URL choose PostgreSQL; bad URLs are named, never their password.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest

from himoe_core import ConfigError, HiMoE
from himoe_core._config.config_parsing import load_config
from himoe_core.state import PostgresStateStore, SqliteStateStore, open_state_store
from himoe_core.testing import ConstantExpert


@pytest.fixture(params=["sqlite", "postgres"])
def location(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "state.sqlite3")
    return request.getfixturevalue("postgres_url")


def state_table(location: str) -> dict:
    return {"url": location} if location.startswith("postgresql://") else {"path": location}


WORKER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from himoe_core import HiMoE
    from himoe_core.testing import LearningExpert

    index, rounds, folder, location, mode = sys.argv[1:6]
    index, rounds, folder = int(index), int(rounds), Path(folder)
    state = {"url": location} if location.startswith("postgresql://") else {"path": location}

    def engine():
        return HiMoE(experts=[LearningExpert("alpha"), LearningExpert("beta")], entry_points=False, environ={},
                     config={"routers": {"r": {"kind": "static", "experts": ["alpha", "beta"], "k": 2}},
                             "state": {**state, "flush_every": 1}})

    moe = engine()
    (folder / f"ready-{index}").touch()
    deadline = time.monotonic() + 60
    while not (folder / "go").exists() and time.monotonic() < deadline:
        time.sleep(0.002)
    for i in range(rounds):
        if mode == "per-step" and i:
            moe.close()
            moe = engine()
        response = moe.run_sync(f"worker {index} request {i}")
        moe.feedback(response.trace_id, scores={"alpha": 1.0, "beta": 0.5})
    moe.close()
""")


def run_workers(tmp_path, location: str, mode: str, workers: int, rounds: int) -> None:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(i), str(rounds), str(tmp_path), location, mode],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(workers)
    ]
    try:
        deadline = time.monotonic() + 120
        while len(list(tmp_path.glob("ready-*"))) < workers and time.monotonic() < deadline:
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs if p.poll() is not None]
            time.sleep(0.01)
        (tmp_path / "go").touch()  # all start learning at once
        results = [p.communicate(timeout=600) + (p.returncode,) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert all(code == 0 for _, _, code in results), [err[-2000:] for _, err, _ in results]


@pytest.mark.parametrize("mode", ["one-engine", "per-step"])
def test_d3_learning_experts_keep_every_update_across_processes(tmp_path, location, mode):
    workers, rounds = 4, 200
    run_workers(tmp_path, location, mode, workers, rounds)
    store = open_state_store(location, retention_days=0, max_traces=0)
    try:
        assert store.count("feedback") == workers * rounds
        assert store.count("decisions") == workers * rounds
        for name, reward in (("alpha", 1.0), ("beta", 0.5)):
            [expert_id] = [eid for eid, n in store.saved_experts() if n == name]
            state, version = store.load_expert(expert_id)
            assert state["learned_count"] == workers * rounds, f"{name}: updates lost to a concurrent writer"
            assert state["reward_sum"] == pytest.approx(workers * rounds * reward)
            assert version == workers * rounds
    finally:
        store.close()


def test_an_engine_learns_logs_and_restores_through_either_store(location):
    config = {
        "routers": {
            "r": {"kind": "linucb", "experts": ["alpha", "beta"], "k": 1, "encoder": {"id": "hashing", "dim": 8}}
        },
        "state": {**state_table(location), "replica": "web-1"},
    }

    def engine() -> HiMoE:
        return HiMoE(
            experts=[ConstantExpert("alpha", value="a"), ConstantExpert("beta", value="b")],
            entry_points=False,
            environ={},
            config=config,
        )

    with engine() as moe:
        ids = [moe.run_sync(f"request {i}").trace_id for i in range(6)]
        for i, trace_id in enumerate(ids[:4]):
            moe.feedback(trace_id, reward=float(i % 2))
        response = moe.run_sync("one more", trace_id="caller-chosen")
        with pytest.raises(Exception, match="already used"):
            moe.run_sync("again", trace_id="caller-chosen")
        stats = moe.stats()
        assert stats["requests"] == 7 and stats["feedback"] == 4
        store = moe.trainer.store
        joined = store.joined_decisions(reward_window_s=3600, default_reward=None, now=time.time())
        assert [j.trace_id for j in joined] == ids[:4]  # the fifth is still in its window: the join waits
        assert {j.replica for j in joined} == {"web-1"} and len({j.event_id for j in joined}) == 4
        assert [row["replica"] for row in store.feedback()] == ["web-1"] * 4
        learned = moe.routers["r"].handle.updates
        version = moe.routers["r"].handle.model_version
    assert response.trace_id == "caller-chosen"
    with engine() as again:
        assert again.routers["r"].handle.updates == learned == 4
        assert again.routers["r"].handle.model_version == version
        assert again.feedback(ids[4], reward=1.0)["first_feedback"]


def test_state_url_selects_postgresql_and_the_store_names_itself_without_the_password(postgres_url, monkeypatch):
    monkeypatch.delenv("HIMOE_STATE_URL", raising=False)
    with HiMoE(
        experts=[ConstantExpert("alpha")], entry_points=False, environ={}, config={"state": {"url": postgres_url}}
    ) as moe:
        moe.run_sync("hello")
        assert isinstance(moe.trainer.store, PostgresStateStore)
    monkeypatch.setenv("HIMOE_STATE_URL", postgres_url)
    with HiMoE(experts=[ConstantExpert("alpha")], entry_points=False, environ={}) as moe:
        assert isinstance(moe.trainer.store, PostgresStateStore)
        assert moe.trainer.store.count("traces") == 1
    monkeypatch.delenv("HIMOE_STATE_URL")
    with HiMoE(experts=[ConstantExpert("alpha")], entry_points=False, environ={}) as moe:
        moe.run_sync("hello")
        assert isinstance(moe.trainer.store, SqliteStateStore)  # the default stays the file


@pytest.mark.parametrize(
    "url, message",
    [
        ("mysql://u:s3cret-canary@h/db", "is not a PostgreSQL URL"),
        ("postgresql://u:s3cret-canary@h:99999/db", "is not a valid URL"),
        ("", "expected a PostgreSQL URL"),
    ],
)
def test_a_bad_state_url_is_named_without_its_password(url, message):
    with pytest.raises(ConfigError, match=message) as caught:
        load_config({"state": {"url": url}})
    assert "s3cret-canary" not in str(caught.value)
    assert "state.url" in str(caught.value)


def test_url_and_path_together_are_refused():
    with pytest.raises(ConfigError, match="either url .* or path"):
        load_config({"state": {"url": "postgresql://h/db", "path": "x.sqlite3"}})


def test_an_unreachable_server_is_a_state_error_naming_it_without_the_password(tmp_path):
    from himoe_core import StateError

    with pytest.raises(StateError) as caught:
        PostgresStateStore("postgresql://someone:s3cret-canary@127.0.0.1:1/nowhere")
    text = str(caught.value)
    assert "s3cret-canary" not in text
    assert "postgresql://someone:***@127.0.0.1:1/nowhere" in text and "[state] url" in text


def test_a_schema_of_another_application_is_refused_untouched(postgres_url):
    import psycopg

    from himoe_core import StateError

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER)")
    with pytest.raises(StateError, match="tables of another application \\(orders\\)"):
        PostgresStateStore(postgres_url)
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
            )
        ]
    assert tables == ["orders"]


def test_require_postgres_turns_the_skip_into_a_failure(tmp_path):
    """.ci/run sets HIMOE_REQUIRE_POSTGRES=1: without a server, the PostgreSQL tests fail the run."""
    test = "tests/test_state_store_contract.py::test_empty_stats"
    # .ci/run itself sets HIMOE_REQUIRE_POSTGRES=1: the first run must go without it.
    inherited = {key: value for key, value in os.environ.items() if key != "HIMOE_REQUIRE_POSTGRES"}
    env = {**inherited, "HIMOE_TEST_POSTGRES_URL": "postgresql://postgres@127.0.0.1:1/none"}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    skipped = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", test], cwd=root, env=env, capture_output=True, text=True
    )
    assert skipped.returncode == 0 and "1 passed, 1 skipped" in skipped.stdout, skipped.stdout[-2000:]
    assert "HIMOE_TEST_POSTGRES_URL cannot be reached" in skipped.stdout
    required = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", test],
        cwd=root,
        env={**env, "HIMOE_REQUIRE_POSTGRES": "1"},
        capture_output=True,
        text=True,
    )
    assert required.returncode != 0 and "HIMOE_REQUIRE_POSTGRES=1" in required.stdout, required.stdout[-2000:]
    assert "HIMOE_REQUIRE_POSTGRES=1" in open(os.path.join(root, ".ci", "run")).read()


def test_the_fallback_private_cluster_runs_a_store(private_postgres):
    """The fixture's last resort (no server at hand): initdb and pg_ctl as a non-root user, on a
    free port; a store works on it."""
    store = PostgresStateStore(private_postgres, retention_days=0, max_traces=0)
    try:
        store.save_expert("e", "alpha", {"n": 1}, 1)
        assert store.load_expert("e") == ({"n": 1}, 1)
    finally:
        store.close()


def test_late_feedback_is_kept_and_reported_as_late(location, himoe_main, tmp_path):
    experts = [ConstantExpert("alpha", value="a")]
    late = {"state": {**state_table(location), "reward_window_s": 0.0}}
    with HiMoE(experts=experts, entry_points=False, environ={}, config=late) as moe:
        ids = [moe.run_sync(f"request {i}").trace_id for i in range(3)]
        time.sleep(0.01)  # past the window of 0 s
        for trace_id in ids[:2]:
            moe.feedback(trace_id, reward=1.0)
        stats = moe.stats()
        assert (stats["feedback"], stats["feedback_late"], stats["reward_window_s"]) == (2, 2, 0.0)
        assert len(moe.trainer.store.feedback()) == 2  # kept
    on_time = {"state": {**state_table(location), "reward_window_s": 3600.0}}
    with HiMoE(experts=experts, entry_points=False, environ={}, config=on_time) as moe:
        assert moe.stats()["feedback_late"] == 0
    config = tmp_path / "himoe.toml"
    key = "url" if location.startswith("postgresql://") else "path"
    config.write_text(f'[state]\n{key} = "{location}"\nreward_window_s = 0\n')
    result = himoe_main(["stats", "--config", str(config)])
    assert result.code == 0, result
    assert "feedback 2 (2 late: after the 0 s reward window)" in result.out
