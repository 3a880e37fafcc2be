"""Config errors name the key and the bad value, whether the config is a dict or a TOML file."""

from __future__ import annotations

import pytest

from himoe_core import ConfigError, HiMoE
from himoe_core._config.config_parsing import load_config
from himoe_core.testing import ConstantExpert


def _build(config):
    return HiMoE(
        experts=[ConstantExpert("alpha"), ConstantExpert("beta")], entry_points=False, environ={}, config=config
    )


def _error(config) -> str:
    with pytest.raises(ConfigError) as info:
        _build(config)
    return str(info.value)


def test_unknown_top_level_key():
    message = _error({"routerz": {}})
    assert "routerz" in message and "unknown key" in message and "routers" in message


def test_unknown_himoe_key():
    message = _error({"himoe": {"budget": 5}})
    assert "himoe.budget" in message and "budget_ms" in message


@pytest.mark.parametrize("value", [0, -1, 1.5, "2", True])
def test_router_k_must_be_a_positive_integer(value):
    message = _error({"routers": {"x": {"experts": ["alpha"], "k": value}}})
    assert "routers.x.k" in message and repr(value) in message


def test_unknown_aggregator():
    message = _error({"routers": {"x": {"experts": ["alpha"], "aggregator": "median"}}})
    assert "routers.x.aggregator" in message and "'median'" in message
    assert "best_score" in message and "weighted_vote" in message  # what is installed


def test_unknown_router_kind():
    message = _error({"routers": {"x": {"experts": ["alpha"], "kind": "quantum"}}})
    assert "routers.x.kind" in message and "'quantum'" in message and "static" in message


def test_unknown_expert_name():
    message = _error({"routers": {"x": {"experts": ["alpha", "gamma"]}}})
    assert "routers.x.experts" in message and "'gamma'" in message
    assert "alpha" in message and "beta" in message  # the installed experts


def test_empty_expert_list():
    message = _error({"routers": {"x": {"experts": []}}})
    assert "routers.x.experts" in message and "[]" in message


def test_unknown_static_weight_expert():
    message = _error({"routers": {"x": {"experts": ["alpha"], "weights": {"beta": 1.0}}}})
    assert "routers.x.weights.beta" in message


def test_unknown_router_option():
    message = _error({"routers": {"x": {"experts": ["alpha"], "colour": "blue"}}})
    assert "routers.x" in message and "colour" in message


def test_rule_pointing_to_a_missing_router():
    message = _error(
        {
            "routers": {"x": {"experts": ["alpha"]}},
            "orchestrator": {"rules": [{"task_prefix": "fr:", "router": "nowhere"}]},
        }
    )
    assert "orchestrator.rules[0]" in message and "'nowhere'" in message and "x" in message


@pytest.mark.parametrize("key", ["default", "fallbacks", "shadows"])
def test_orchestrator_names_must_exist(key):
    value = "ghost" if key == "default" else ["ghost"]
    message = _error({"routers": {"x": {"experts": ["alpha"]}}, "orchestrator": {key: value}})
    assert f"orchestrator.{key}" in message and "'ghost'" in message


def test_bad_rule_input_kind():
    message = _error(
        {"routers": {"x": {"experts": ["alpha"]}}, "orchestrator": {"rules": [{"input": "video", "router": "x"}]}}
    )
    assert "orchestrator.rules[0].input" in message and "'video'" in message


def test_unknown_rule_key():
    message = _error(
        {"routers": {"x": {"experts": ["alpha"]}}, "orchestrator": {"rules": [{"prefix": "fr:", "router": "x"}]}}
    )
    assert "orchestrator.rules[0].prefix" in message


def test_unknown_orchestrator_kind():
    message = _error({"routers": {"x": {"experts": ["alpha"]}}, "orchestrator": {"kind": "oracle"}})
    assert "orchestrator.kind" in message and "'oracle'" in message and "rules" in message


@pytest.mark.parametrize(
    "key, value",
    [("budget_ms", -1), ("budget_ms", "fast"), ("cost_budget", -0.5), ("trace_capacity", 0), ("chain_plans", "yes")],
)
def test_bad_himoe_values(key, value):
    message = _error({"himoe": {key: value}})
    assert f"himoe.{key}" in message and repr(value) in message


def test_bad_toml_file(tmp_path):
    path = tmp_path / "himoe.toml"
    path.write_text("[routers.x\nexperts = ['alpha']\n", encoding="utf-8")
    message = _error(str(path))
    assert str(path) in message and "TOML" in message


def test_missing_file(tmp_path):
    path = tmp_path / "absent.toml"
    message = _error(path)
    assert str(path) in message and "not found" in message


def test_valid_toml_file(tmp_path):
    path = tmp_path / "himoe.toml"
    path.write_text(
        "[himoe]\nbudget_ms = 250\ntrace_capacity = 7\n\n"
        '[routers.fr]\nexperts = ["alpha"]\nk = 1\naggregator = "confidence"\n'
        "[routers.fr.gating]\ntemperature = 0.5\nepsilon = 0.1\nseed = 7\n\n"
        '[routers.rest]\nexperts = ["*"]\nk = 2\n\n'
        '[orchestrator]\ndefault = "rest"\n\n'
        '[[orchestrator.rules]]\ntask_prefix = "fr:"\nrouter = "fr"\n',
        encoding="utf-8",
    )
    moe = _build(path)
    assert moe.budget_ms == 250 and moe.traces.capacity == 7
    fr = moe.routers["fr"].handle
    assert fr.k == 1 and fr.aggregator.id == "confidence"
    assert (fr.policy.temperature, fr.policy.epsilon, fr.policy.seed) == (0.5, 0.1, 7)
    assert [r.name for r in moe.routers["rest"].handle.experts] == ["alpha", "beta"]
    assert moe.orchestrator.default == "rest"


def test_load_config_fills_defaults_without_mutating_the_input():
    raw = {"routers": {"x": {"experts": "alpha"}}}
    checked = load_config(raw)
    assert raw == {"routers": {"x": {"experts": "alpha"}}}
    router = checked["routers"]["x"]
    assert router == {"kind": "static", "experts": ["alpha"], "k": 1, "aggregator": "best_score"}
    assert checked["himoe"]["budget_ms"] == 1000.0
    default = load_config(None)["routers"]
    assert list(default) == ["default"] and default["default"]["experts"] == ["*"]


def test_relative_paths_in_a_config_file_are_relative_to_the_file(tmp_path, monkeypatch):
    folder = tmp_path / "deploy"
    (folder / "plugins").mkdir(parents=True)
    (folder / "plugins" / "local_plugin.py").write_text(
        "from himoe_core import hookimpl\n"
        "from himoe_core.testing import ConstantExpert\n\n"
        "@hookimpl\n"
        "def register_experts(register):\n"
        "    register(ConstantExpert('from_the_plugins_dir', 'hi'))\n"
    )
    config = folder / "himoe.toml"
    config.write_text('[himoe]\nplugins_dir = "plugins"\n\n[state]\npath = "data/state.sqlite3"\n')
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    loaded = load_config(config)
    assert loaded["state"]["path"] == str(folder / "data" / "state.sqlite3")
    assert loaded["himoe"]["plugins_dir"] == str(folder / "plugins")
    (folder / "data").mkdir()
    moe = HiMoE(entry_points=False, environ={}, config=str(config))
    try:
        assert moe.run_sync("hello").value.as_text() == "hi"
    finally:
        moe.close()
    assert (folder / "data" / "state.sqlite3").exists() and not list(elsewhere.iterdir())


def test_relative_paths_in_a_dict_config_stay_relative_to_the_current_directory():
    loaded = load_config({"state": {"path": "state.sqlite3"}, "himoe": {"plugins_dir": "plugins"}})
    assert loaded["state"]["path"] == "state.sqlite3" and loaded["himoe"]["plugins_dir"] == "plugins"
    assert load_config({"state": {"path": ":memory:"}})["state"]["path"] == ":memory:"


def test_a_symlinked_config_file_resolves_relative_to_where_it_is_linked_from(tmp_path):
    real, linked = tmp_path / "real", tmp_path / "linked"
    real.mkdir()
    linked.mkdir()
    (real / "himoe.toml").write_text('[state]\npath = "state.sqlite3"\n')
    (linked / "himoe.toml").symlink_to(real / "himoe.toml")
    assert load_config(linked / "himoe.toml")["state"]["path"] == str(linked / "state.sqlite3")


def test_a_home_folder_that_cannot_be_expanded_is_a_config_error():
    with pytest.raises(ConfigError, match=r"state\.path: cannot expand '~no_such_user_here/state.sqlite3'"):
        load_config({"state": {"path": "~no_such_user_here/state.sqlite3"}})
    assert load_config({"state": {"path": "~/state.sqlite3"}})["state"]["path"] != "~/state.sqlite3"
