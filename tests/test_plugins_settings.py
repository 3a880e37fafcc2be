"""PluginSettings (the HIMOE_* variables), PluginInfo and the hook specifications."""

import inspect

import pytest

from himoe_core.plugins import PluginInfo, PluginSettings, hookspecs


def test_defaults_without_any_variable():
    settings = PluginSettings.from_environ({})
    assert settings == PluginSettings(allow=None, deny=frozenset(), strict=False, trace=False)
    assert settings.builtins_enabled()
    assert settings.allows("anything")


def test_load_plugins_set_but_empty_allows_nothing():
    settings = PluginSettings.from_environ({"HIMOE_LOAD_PLUGINS": ""})
    assert settings.allow == frozenset()
    assert not settings.allows("himoe-planning")
    assert settings.builtins_enabled()


def test_names_are_normalised_and_trimmed():
    settings = PluginSettings.from_environ(
        {"HIMOE_LOAD_PLUGINS": " Dist_A , dist.b,,", "HIMOE_DISABLE_PLUGINS": "Bad_Plugin"}
    )
    assert settings.allow == {"dist-a", "dist-b"}
    assert settings.deny == {"bad-plugin"}
    assert settings.allows("DIST-A") and settings.allows("dist_b")
    assert not settings.allows("dist-c")


def test_deny_wins_over_allow():
    settings = PluginSettings.from_environ({"HIMOE_LOAD_PLUGINS": "a,b", "HIMOE_DISABLE_PLUGINS": "b"})
    assert settings.allows("a") and not settings.allows("b")


def test_disabling_himoe_disables_the_builtins():
    assert not PluginSettings.from_environ({"HIMOE_DISABLE_PLUGINS": "other,HIMOE"}).builtins_enabled()


@pytest.mark.parametrize(
    "value, expected",
    [
        ("1", True),
        ("true", True),
        ("YES", True),
        (" on ", True),
        ("0", False),
        ("", False),
        ("false", False),
        ("no", False),
    ],
)
def test_flags(value, expected):
    settings = PluginSettings.from_environ({"HIMOE_STRICT_PLUGINS": value, "HIMOE_TRACE_PLUGINS": value})
    assert settings.strict is expected and settings.trace is expected


def test_plugin_info_label_and_json():
    info = PluginInfo("planning", "himoe-planning", "0.1.0", "entry-point", ("register_experts",))
    assert info.label == "himoe-planning==0.1.0"
    assert info.ok
    assert info.to_jsonable() == {
        "name": "planning",
        "distribution": "himoe-planning",
        "version": "0.1.0",
        "origin": "entry-point",
        "hooks": ["register_experts"],
        "error": None,
    }
    assert PluginInfo("local_file", origin="directory").label == "local_file"
    assert PluginInfo("x", "dist-x").label == "dist-x"
    assert not PluginInfo("x", error="boom").ok


def test_the_hook_specifications_are_the_documented_contract():
    specs = {
        name: list(inspect.signature(func).parameters)
        for name, func in vars(hookspecs).items()
        if name.startswith("register_")
    }
    assert specs == {
        "register_experts": ["register", "config"],
        "register_routers": ["register"],
        "register_aggregators": ["register"],
        "register_orchestrators": ["register"],
        "register_encoders": ["register"],
        "register_config_tables": ["register"],
    }
