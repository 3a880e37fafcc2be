"""PluginHost with plugin objects (no installation): isolation, strictness, conflicts, config."""

import os
import subprocess
import sys

import pytest

from himoe_core import PluginError, hookimpl
from himoe_core.plugins import PluginHost
from himoe_core.routing import stable_id


class Expert:
    """A minimal expert for plugin tests."""

    domain = "test"

    def __init__(self, name: str) -> None:
        self.name = name

    def can_handle(self, task):
        return True

    def infer(self, x, ctx):
        return self.name


class GoodPlugin:
    def __init__(self, *names: str) -> None:
        self.names = names or ("good_expert",)

    @hookimpl
    def register_experts(self, register):
        for name in self.names:
            register(Expert(name))


class RaisingPlugin:
    """Registers one expert, then raises: nothing of it may stay registered."""

    @hookimpl
    def register_experts(self, register):
        register(Expert("half_registered"))
        raise RuntimeError("model file missing")


class ConfigPlugin:
    name = "cfg-plugin"

    def __init__(self) -> None:
        self.seen = []

    @hookimpl
    def register_experts(self, register, config):
        self.seen.append(config)
        for name in config.get("experts", []):
            register(Expert(name))


def build(*plugins, warn=None, **kwargs) -> PluginHost:
    kwargs.setdefault("environ", {})
    if warn is not None:
        kwargs["warn"] = warn
    return PluginHost(plugins=plugins, entry_points=False, **kwargs)


def names(host: PluginHost) -> list[str]:
    return [info.name for info in host.expert_infos()]


# -- the basics ----------------------------------------------------------------------------------------
def test_an_object_plugin_registers_its_experts():
    host = build(GoodPlugin("b_expert", "a_expert"))
    infos = host.expert_infos()
    assert [i.name for i in infos] == ["a_expert", "b_expert"]
    assert infos[0].id == stable_id("a_expert")
    assert infos[0].plugin == "GoodPlugin"
    assert infos[0].domain == "test"
    assert infos[0].description == "A minimal expert for plugin tests."
    assert host.experts.get_by_name("a_expert").name == "a_expert"
    [info] = host.plugins()
    assert (info.name, info.origin, info.hooks, info.error) == ("GoodPlugin", "object", ("register_experts",), None)
    assert host.failures() == []


def test_without_entry_points_no_installed_plugin_is_loaded():
    host = build()
    assert names(host) == []
    assert host.plugins() == []


def test_installed_entry_points_are_loaded_by_default():
    host = PluginHost(environ={}, warn=pytest.fail)
    assert "rule_planner" in names(host)
    [planner] = [i for i in host.expert_infos() if i.name == "rule_planner"]
    assert (planner.plugin, planner.version, str(planner.id)) == ("himoe-planning", "0.1.0", "21173fea50be1d0d")


def test_the_builtin_plugin_is_loaded_and_hidden_unless_asked():
    host = build()
    assert host.plugins() == []
    [builtin] = host.plugins(include_builtins=True)
    assert (builtin.name, builtin.origin, builtin.ok) == ("himoe", "builtin", True)
    assert host.aggregators and host.router_kinds


def test_himoe_disable_plugins_removes_the_builtin_plugin():
    host = build(environ={"HIMOE_DISABLE_PLUGINS": "himoe"})
    assert host.plugins(include_builtins=True) == []
    assert host.aggregators == {} and host.router_kinds == {} and host.orchestrator_kinds == {}


def test_an_implementation_may_take_the_config_argument_or_leave_it_out():
    with_config, without = ConfigPlugin(), GoodPlugin("plain")
    host = build(with_config, without, config={"plugins": {"cfg-plugin": {"experts": ["from_config"]}}})
    assert names(host) == ["from_config", "plain"]
    assert with_config.seen == [{"experts": ["from_config"]}]


def test_register_experts_gets_an_empty_table_without_config():
    plugin = ConfigPlugin()
    build(plugin, config={"plugins": {"other-plugin": {"experts": ["x"]}}})
    assert plugin.seen == [{}]


def test_two_hosts_are_independent():
    first = build(GoodPlugin("only_in_first"))
    second = build(GoodPlugin("only_in_second"))
    assert names(first) == ["only_in_first"]
    assert names(second) == ["only_in_second"]
    assert first.pm is not second.pm
    assert first.experts is not second.experts
    assert build().expert_infos() == []


# -- isolation ---------------------------------------------------------------------------------------
def test_a_raising_hook_is_isolated_with_one_warning():
    warnings: list[str] = []
    host = build(GoodPlugin("survivor"), RaisingPlugin(), warn=warnings.append)
    assert names(host) == ["survivor"]
    assert len(warnings) == 1
    assert "RaisingPlugin" in warnings[0] and "model file missing" in warnings[0]
    assert "\n" not in warnings[0]
    [failed] = host.failures()
    assert failed.name == "RaisingPlugin"
    assert failed.error == "raised in a hook: RuntimeError: model file missing"
    assert {i.name: i.ok for i in host.plugins()} == {"GoodPlugin": True, "RaisingPlugin": False}


def test_a_hook_raising_after_registering_leaves_nothing_of_that_plugin():
    host = build(RaisingPlugin(), warn=lambda line: None)
    assert "half_registered" not in host.experts
    assert names(host) == []
    assert host.pm.get_plugin("RaisingPlugin") is None  # unregistered from pluggy too


def test_the_default_warning_goes_through_logging_not_stderr(capsys, caplog):
    build(GoodPlugin(), RaisingPlugin())
    assert capsys.readouterr() == ("", "")
    [record] = [r for r in caplog.records if r.name.startswith("himoe")]
    assert (record.name, record.levelname) == ("himoe.plugins", "WARNING")
    assert record.getMessage().startswith("plugin 'RaisingPlugin' raised in a hook")
    assert "HIMOE_STRICT_PLUGINS=1" in record.getMessage()


EMBEDDING_APP = """
import logging, sys
from himoe_core.plugins import PluginHost
from himoe_core import hookimpl

class Raising:
    @hookimpl
    def register_experts(self, register):
        raise RuntimeError("model file missing")

if sys.argv[1] == "silenced":
    logging.getLogger("himoe").setLevel(logging.ERROR)
elif sys.argv[1] == "routed":
    logging.basicConfig(stream=sys.stdout, format="%(name)s %(levelname)s %(message)s")
PluginHost(plugins=[Raising()], entry_points=False, environ={})
"""


@pytest.mark.parametrize("setup", ["unconfigured", "silenced", "routed"])
def test_an_embedding_application_sees_routes_or_silences_the_warning(setup):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HIMOE_")}
    proc = subprocess.run(
        [sys.executable, "-c", EMBEDDING_APP, setup], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    if setup == "unconfigured":  # Python's last-resort handler: the message alone, on stderr
        assert proc.stdout == "" and proc.stderr.startswith("plugin 'Raising' raised in a hook: RuntimeError")
    elif setup == "silenced":
        assert proc.stdout == proc.stderr == ""
    else:
        assert proc.stderr == "" and proc.stdout.startswith("himoe.plugins WARNING plugin 'Raising' raised")


def test_strict_mode_turns_a_raising_hook_into_a_plugin_error():
    with pytest.raises(PluginError, match=r"plugin 'RaisingPlugin' raised in a hook: RuntimeError: model file missing"):
        build(GoodPlugin(), RaisingPlugin(), strict=True, warn=pytest.fail)


def test_strict_mode_from_the_environment():
    with pytest.raises(PluginError, match="RaisingPlugin.*HIMOE_STRICT_PLUGINS is set"):
        build(RaisingPlugin(), environ={"HIMOE_STRICT_PLUGINS": "1"}, warn=pytest.fail)


def test_strict_false_overrides_the_environment():
    warnings = []
    build(RaisingPlugin(), environ={"HIMOE_STRICT_PLUGINS": "1"}, strict=False, warn=warnings.append)
    assert len(warnings) == 1


def test_a_malformed_plugin_is_isolated_with_a_one_line_warning():
    class UnknownHook:
        @hookimpl
        def register_widgets(self, register):  # no such hook
            pass

    class BadArguments:
        @hookimpl
        def register_experts(self, register, colour):  # no such argument
            pass

    warnings: list[str] = []
    host = build(UnknownHook(), BadArguments(), GoodPlugin("fine"), warn=warnings.append)
    assert names(host) == ["fine"]
    assert len(warnings) == 2
    assert all("\n" not in w and "is not a valid plugin" in w for w in warnings)
    assert "register_widgets" in warnings[0] and "colour" in warnings[1]
    assert sorted(i.name for i in host.failures()) == ["BadArguments", "UnknownHook"]


def test_plugins_with_the_same_name_are_all_kept():
    warnings = []
    first, second, third = GoodPlugin("one"), GoodPlugin("two"), GoodPlugin("three")

    class Failing:
        @hookimpl
        def register_experts(self, register):
            raise ValueError("nope")

    failing = Failing()
    failing.name = "GoodPlugin"  # same identity as the others
    host = build(first, second, third, failing, warn=warnings.append)
    assert names(host) == ["one", "three", "two"]
    infos = host.plugins()
    assert len(infos) == 4
    assert sum(1 for i in infos if i.ok) == 3
    assert len(host.failures()) == 1 and len(warnings) == 1


# -- registration errors ---------------------------------------------------------------------------------
def test_duplicate_expert_names_name_both_sources():
    class Other:
        @hookimpl
        def register_experts(self, register):
            register(Expert("shared"))

    with pytest.raises(PluginError) as info:
        build(GoodPlugin("shared"), Other())
    message = str(info.value)
    assert "'shared'" in message
    assert "GoodPlugin" in message and "Other" in message


def test_an_expert_without_infer_is_a_plugin_error():
    class NoInfer:
        name = "no_infer"

        def can_handle(self, task):
            return True

    class Plugin:
        @hookimpl
        def register_experts(self, register):
            register(NoInfer())

    with pytest.raises(PluginError, match=r"plugin 'Plugin' registered .* which has no infer\(\) method"):
        build(Plugin())


def test_an_expert_without_can_handle_is_a_plugin_error():
    class Plugin:
        @hookimpl
        def register_experts(self, register):
            register(type("Bare", (), {"name": "bare", "infer": lambda self, x, ctx: None})())

    with pytest.raises(PluginError, match=r"no can_handle\(\) method"):
        build(Plugin())


@pytest.mark.parametrize("bad_name", ["Upper", "has space", "", None])
def test_an_expert_with_an_invalid_name_is_a_plugin_error(bad_name):
    with pytest.raises(PluginError, match="GoodPlugin"):
        build(GoodPlugin(bad_name))


def test_routers_aggregators_orchestrators_and_encoders_are_registered():
    class Aggregator:
        id = "my_agg"

    class Encoder:
        id = "my_enc"

    def factory(**options):
        return options

    class Components:
        @hookimpl
        def register_routers(self, register):
            register("my_router", factory)

        @hookimpl
        def register_aggregators(self, register):
            register(Aggregator())

        @hookimpl
        def register_orchestrators(self, register):
            register("my_orch", factory)

        @hookimpl
        def register_encoders(self, register):
            register(Encoder())

    host = build(Components(), environ={"HIMOE_DISABLE_PLUGINS": "himoe"})
    assert host.router_kinds == {"my_router": factory}
    assert host.orchestrator_kinds == {"my_orch": factory}
    assert list(host.aggregators) == ["my_agg"] and list(host.encoders) == ["my_enc"]
    [info] = host.plugins()
    assert info.hooks == ("register_aggregators", "register_encoders", "register_orchestrators", "register_routers")


def test_a_duplicate_component_id_names_both_plugins():
    def plugin_class(class_name):
        def register_routers(self, register):
            register("static", lambda **options: None)

        return type(class_name, (), {"register_routers": hookimpl(register_routers)})

    with pytest.raises(PluginError, match=r"router kind 'static' is registered twice: by 'First' and by 'Second'"):
        build(plugin_class("First")(), plugin_class("Second")(), environ={"HIMOE_DISABLE_PLUGINS": "himoe"})


def test_an_aggregator_without_an_id_is_a_plugin_error():
    class Plugin:
        @hookimpl
        def register_aggregators(self, register):
            register(object())

    with pytest.raises(PluginError, match="plugin 'Plugin' registered an aggregator without a string id"):
        build(Plugin())


# -- tracing -----------------------------------------------------------------------------------------------
def test_trace_plugins_writes_hook_calls_to_stderr(capsys):
    build(GoodPlugin("traced"), environ={"HIMOE_TRACE_PLUGINS": "1"})
    err = capsys.readouterr().err
    assert "register_experts" in err


def test_no_trace_without_the_variable(capsys):
    build(GoodPlugin("quiet"))
    assert capsys.readouterr().err == ""


# -- replace_experts / register_config_tables ------------------------------------------------------
class Wrapped(Expert):
    def __init__(self, inner: Expert) -> None:
        super().__init__(inner.name)
        self.inner = inner


class ReplacingPlugin:
    """Claims [hosting] and puts a Wrapped expert in the place of each expert it names."""

    name = "replacer"

    @hookimpl
    def register_config_tables(self, register):
        register("hosting")

    @hookimpl
    def replace_experts(self, experts, replace, register, config):
        for name in config.get("hosting", {}).get("experts", []):
            replace(Wrapped(experts[name]))
        register(Expert("added_by_replacer"))


def test_replace_experts_keeps_the_name_id_and_plugin():
    host = build(GoodPlugin("alpha", "beta"), ReplacingPlugin(), config={"hosting": {"experts": ["alpha"]}})
    alpha = host.experts.get_by_name("alpha")
    assert isinstance(alpha, Wrapped) and alpha.inner.name == "alpha"
    assert not isinstance(host.experts.get_by_name("beta"), Wrapped)
    assert host.experts.id_of("alpha") == stable_id("alpha")
    assert host.experts.source_of("alpha") == host.experts.source_of("beta")  # still GoodPlugin's
    assert "added_by_replacer" in host.experts


def test_an_unclaimed_top_level_table_is_a_config_error_once_plugins_are_loaded():
    from himoe_core import ConfigError
    from himoe_core._config.config_parsing import load_config

    config = load_config({"hostingg": {"experts": []}})  # a table: its plugin may claim it
    with pytest.raises(
        ConfigError,
        match=r"^hostingg: unknown key; known keys here: himoe, .*tables of loaded "
        r"plugins: hosting \(replacer\)",
    ):
        build(ReplacingPlugin(), config=config)
    with pytest.raises(ConfigError, match="hostingg: unknown key"):
        load_config({"hostingg": 1})  # not a table: no plugin's


def test_replacing_an_unknown_or_already_replaced_expert_is_a_plugin_error():
    class Stray:
        @hookimpl
        def replace_experts(self, replace):
            replace(Expert("nobody"))

    with pytest.raises(PluginError, match="replaced the expert 'nobody', which is not registered"):
        build(GoodPlugin("alpha"), Stray())

    class Twice(ReplacingPlugin):
        name = "twice"

        @hookimpl
        def register_config_tables(self, register):
            pass

    with pytest.raises(PluginError, match="expert 'alpha' is replaced twice"):
        build(GoodPlugin("alpha"), ReplacingPlugin(), Twice(), config={"hosting": {"experts": ["alpha"]}})


def test_a_replace_hook_that_raises_leaves_its_plugin_out_whole():
    class Broken:
        name = "broken"

        @hookimpl
        def register_experts(self, register):
            register(Expert("from_broken"))

        @hookimpl
        def replace_experts(self, experts, replace):
            replace(Wrapped(experts["alpha"]))
            raise RuntimeError("cluster down")

    warnings = []
    host = build(GoodPlugin("alpha"), Broken(), warn=warnings.append)
    assert not isinstance(host.experts.get_by_name("alpha"), Wrapped)
    assert "from_broken" not in host.experts
    assert len(warnings) == 1 and "raised in a hook: RuntimeError: cluster down" in warnings[0]
