"""Issue 17, D10: a learning router whose encoder changed under its saved state was broken for
good ("learned on 16 features, got 32", no way out). `himoe state reset` and
HiMoE.reset_state forget what a router or expert learned; the message names them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from himoe_core import HiMoE, InvalidInput, MoeError
from himoe_core.testing import ConstantExpert, LearningExpert

ONLY_TEST_PLUGINS = {"HIMOE_LOAD_PLUGINS": "fuzz-test-plugin"}


def _learned(state: dict) -> float:
    """How much a linear router learned: the size of its weights (none before it learns)."""
    weights = state.get("weights")
    return 0.0 if weights is None else float(np.abs(weights).sum())


def _config_file(tmp_path, kind: str, dim: int) -> str:
    path = tmp_path / "himoe.toml"
    path.write_text(f"""
[routers.r]
kind = "{kind}"
experts = ["fz_alpha", "fz_beta"]
encoder = {{ id = "hashing", dim = {dim} }}

[state]
path = "{tmp_path / "state.sqlite3"}"
flush_every = 1
""")
    return str(path)


@pytest.mark.parametrize("kind", ["linear", "linucb", "logistic"])
def test_a_changed_encoder_names_the_way_out_and_the_reset_recovers(tmp_path, himoe_main, cli_plugins_dir, kind):
    cli = ["--plugins-dir", str(cli_plugins_dir)]
    config = _config_file(tmp_path, kind, 16)
    for i in range(3):
        run = himoe_main([*cli, "run", f"question {i}", "--config", config, "--json"], env=ONLY_TEST_PLUGINS)
        assert run.code == 0, run.err
        trace_id = json.loads(run.out)["trace_id"]
        assert (
            himoe_main([*cli, "feedback", trace_id, "--reward", "1", "--config", config], env=ONLY_TEST_PLUGINS).code
            == 0
        )
    config = _config_file(tmp_path, kind, 32)
    broken = himoe_main([*cli, "run", "question", "--config", config], env=ONLY_TEST_PLUGINS)
    assert broken.code == 1
    assert "learned on 16 features, got 32" in broken.err
    assert "himoe state reset --router r" in broken.err
    reset = himoe_main([*cli, "state", "reset", "--router", "r", "--config", config], env=ONLY_TEST_PLUGINS)
    assert (reset.code, reset.err) == (0, "")
    assert "router r: learned state reset" in reset.out
    fixed = himoe_main([*cli, "run", "question", "--config", config, "--json"], env=ONLY_TEST_PLUGINS)
    assert fixed.code == 0, fixed.err
    trace_id = json.loads(fixed.out)["trace_id"]
    assert (
        himoe_main([*cli, "feedback", trace_id, "--reward", "1", "--config", config], env=ONLY_TEST_PLUGINS).code == 0
    )


def _two_engines(tmp_path):
    config = {
        "routers": {"r": {"kind": "linear", "experts": ["alpha", "beta"], "encoder": {"id": "hashing", "dim": 16}}},
        "state": {"path": str(tmp_path / "s.sqlite3"), "flush_every": 1},
    }
    experts = [ConstantExpert("alpha"), ConstantExpert("beta")]
    return [HiMoE(experts=experts, entry_points=False, environ={}, config=config) for _ in range(2)]


def test_reset_reaches_the_state_file_and_new_engines(tmp_path):
    a, b = _two_engines(tmp_path)
    with a, b:
        for i in range(5):
            b.feedback(b.run_sync(f"q {i}").trace_id, reward=1.0)
        assert _learned(b.trainer.store.load_router("r")[0]) > 0
        assert a.reset_state(router="r") == {"routers": ["r"], "experts": []}
        assert _learned(a.trainer.store.load_router("r")[0]) == 0
    c, _ = _two_engines(tmp_path)
    with c:
        assert _learned(c.routers["r"].handle.state_dict()) == 0


def test_reset_reaches_engines_already_running(tmp_path):
    a, b = _two_engines(tmp_path)
    with a, b:
        for i in range(5):
            b.feedback(b.run_sync(f"q {i}").trace_id, reward=1.0)
        learned = _learned(b.routers["r"].handle.state_dict())
        a.feedback(a.run_sync("q in a").trace_id, reward=1.0)
        a.reset_state(router="r")
        assert _learned(a.routers["r"].handle.state_dict()) == 0  # the engine that reset
        # b still holds what it learned; its next update starts from the reset state instead of saving over it
        b.feedback(b.run_sync("q again").trace_id, reward=1.0)
        assert 0 < _learned(b.trainer.store.load_router("r")[0]) < learned


def test_expert_and_all_resets(tmp_path, himoe_main, cli_plugins_dir):
    config = _config_file(tmp_path, "linear", 16)
    cli = ["--plugins-dir", str(cli_plugins_dir)]
    run = himoe_main([*cli, "run", "question", "--config", config, "--json"], env=ONLY_TEST_PLUGINS)
    trace_id = json.loads(run.out)["trace_id"]
    assert (
        himoe_main([*cli, "feedback", trace_id, "--reward", "1", "--config", config], env=ONLY_TEST_PLUGINS).code == 0
    )
    with HiMoE(config=config, plugins_dir=cli_plugins_dir, environ=ONLY_TEST_PLUGINS) as moe:
        saved = {name for _, name in moe.trainer.store.saved_experts()}
    assert saved and saved <= {"fz_alpha", "fz_beta"}
    name = sorted(saved)[0]
    result = himoe_main([*cli, "state", "reset", "--expert", name, "--config", config, "--json"], env=ONLY_TEST_PLUGINS)
    assert result.code == 0 and json.loads(result.out)["experts"] == [name]
    unknown = himoe_main([*cli, "state", "reset", "--expert", name, "--config", config], env=ONLY_TEST_PLUGINS)
    assert unknown.code == 1 and unknown.err.count("\n") == 1 and f"no saved state for expert {name!r}" in unknown.err
    everything = himoe_main([*cli, "state", "reset", "--all", "--config", config, "--json"], env=ONLY_TEST_PLUGINS)
    assert everything.code == 0 and json.loads(everything.out)["routers"] == ["r"]
    with HiMoE(config=config, plugins_dir=cli_plugins_dir, environ=ONLY_TEST_PLUGINS) as moe:
        assert _learned(moe.trainer.store.load_router("r")[0]) == 0 and moe.trainer.store.saved_experts() == []
        assert moe.trainer.store.count("traces") == 1 and len(moe.trainer.store.feedback()) == 1  # history stays
    usage = himoe_main(["state", "reset"])
    assert usage.code == 2 and "one of the arguments --router --expert --all is required" in usage.err


def test_reset_state_api_errors(tmp_path):
    config = {
        "routers": {"r": {"kind": "linear", "experts": ["alpha"], "encoder": {"id": "hashing", "dim": 8}}},
        "state": {"path": str(tmp_path / "s.sqlite3")},
    }
    with HiMoE(experts=[LearningExpert("alpha")], entry_points=False, environ={}, config=config) as moe:
        with pytest.raises(InvalidInput, match=r"give exactly one of router=…, expert=… or everything=True"):
            moe.reset_state()
        with pytest.raises(InvalidInput, match=r"no router 'nope' in this config or the state file; routers: r"):
            moe.reset_state(router="nope")
        assert moe.reset_state(router="r") == {"routers": [], "experts": []}  # nothing saved yet: nothing to forget
    with pytest.raises(MoeError, match=r"\[state\] enabled = false"):
        with HiMoE(
            experts=[LearningExpert("alpha")],
            entry_points=False,
            environ={},
            config={**config, "state": {"enabled": False}},
        ) as moe:
            moe.reset_state(router="r")
