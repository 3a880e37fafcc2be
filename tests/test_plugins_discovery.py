"""PluginHost over REAL distributions on a temporary path (dist-info + entry_points.txt + module)
and over a plugins folder: isolation, the HIMOE_* variables, strict mode."""

import itertools
import textwrap
from pathlib import Path

import pytest

from himoe_core import PluginError
from himoe_core.plugins import PluginHost

_unique = itertools.count()

GOOD_PLUGIN = '''
from himoe_core import hookimpl


class {cls}:
    """Expert {expert} from a test distribution."""

    name = "{expert}"
    domain = "test"

    def can_handle(self, task):
        return True

    def infer(self, x, ctx):
        return "{expert}"


@hookimpl
def register_experts(register):
    register({cls}())
'''

BROKEN_AT_IMPORT = """
raise ImportError("needs the missing_dependency package")
"""

RAISING_HOOK = """
from himoe_core import hookimpl


@hookimpl
def register_experts(register):
    raise RuntimeError("model weights not found")
"""


class Site:
    """A folder laid out like site-packages, with real distributions written into it."""

    def __init__(self, root: Path) -> None:
        self.path = root
        self.path.mkdir(parents=True, exist_ok=True)

    def add(self, dist: str, source: str, *, version: str = "1.0", ep_name: str | None = None) -> str:
        module = f"himoe_test_plugin_{next(_unique)}_{dist.lower().replace('-', '_')}"
        info = self.path / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[himoe]\n{ep_name or dist} = {module}\n")
        (self.path / f"{module}.py").write_text(textwrap.dedent(source))
        return module

    def add_good(self, dist: str, expert: str, **kwargs) -> str:
        return self.add(dist, GOOD_PLUGIN.format(cls=f"E{next(_unique)}", expert=expert), **kwargs)


@pytest.fixture
def site(tmp_path, monkeypatch) -> Site:
    site = Site(tmp_path / "site")
    monkeypatch.syspath_prepend(str(site.path))
    return site


def host(site: Site, environ=None, **kwargs) -> PluginHost:
    kwargs.setdefault("warn", pytest.fail)
    return PluginHost(search_path=[str(site.path)], environ=environ or {}, **kwargs)


def expert_names(h: PluginHost) -> list[str]:
    return [i.name for i in h.expert_infos()]


# -- entry points ---------------------------------------------------------------------------------------
def test_a_good_distribution_registers_its_expert_with_dist_name_and_version(site):
    site.add_good("dist-good", "good_one", version="2.3.4")
    h = host(site)
    [info] = h.expert_infos()
    assert (info.name, info.plugin, info.version, info.domain) == ("good_one", "dist-good", "2.3.4", "test")
    assert info.description == "Expert good_one from a test distribution."
    [plugin] = h.plugins()
    assert (plugin.dist_name, plugin.version, plugin.origin, plugin.ok) == ("dist-good", "2.3.4", "entry-point", True)
    assert plugin.hooks == ("register_experts",)


def test_search_path_limits_discovery_to_that_folder(site):
    site.add_good("dist-good", "good_one")
    assert "rule_planner" not in expert_names(host(site))


def test_a_plugin_failing_at_import_is_isolated_with_one_warning(site):
    site.add_good("dist-a", "expert_a")
    site.add("dist-broken", BROKEN_AT_IMPORT, version="0.9")
    site.add_good("dist-z", "expert_z")
    warnings: list[str] = []
    h = host(site, warn=warnings.append)
    assert expert_names(h) == ["expert_a", "expert_z"]
    assert len(warnings) == 1
    assert "dist-broken==0.9" in warnings[0]
    assert "ImportError: needs the missing_dependency package" in warnings[0]
    broken = {p.dist_name: p for p in h.plugins()}["dist-broken"]
    assert broken.version == "0.9"
    assert not broken.ok and "needs the missing_dependency package" in broken.error
    assert [p.dist_name for p in h.failures()] == ["dist-broken"]


def test_a_plugin_whose_hook_raises_is_isolated_with_one_warning(site):
    site.add_good("dist-a", "expert_a")
    site.add("dist-raising", RAISING_HOOK, version="3.0")
    warnings: list[str] = []
    h = host(site, warn=warnings.append)
    assert expert_names(h) == ["expert_a"]
    assert len(warnings) == 1
    assert "dist-raising==3.0" in warnings[0] and "model weights not found" in warnings[0]
    failed = {p.dist_name: p for p in h.plugins()}["dist-raising"]
    assert failed.error == "raised in a hook: RuntimeError: model weights not found"


def test_by_default_each_failed_plugin_is_one_warning_logged_to_himoe_plugins(site, caplog, capsys):
    site.add("dist-broken", BROKEN_AT_IMPORT)
    site.add("dist-raising", RAISING_HOOK)
    site.add_good("dist-good", "good_one")
    h = PluginHost(search_path=[str(site.path)], environ={})
    assert expert_names(h) == ["good_one"]
    records = [r for r in caplog.records if r.name.startswith("himoe")]
    assert [(r.name, r.levelname) for r in records] == [("himoe.plugins", "WARNING")] * 2
    lines = [r.getMessage() for r in records]
    assert sum("dist-broken==1.0" in line for line in lines) == 1
    assert sum("dist-raising==1.0" in line for line in lines) == 1
    assert all("\n" not in line and "HIMOE_STRICT_PLUGINS=1" in line for line in lines)
    assert capsys.readouterr().err == ""  # the library prints nothing itself


def test_strict_mode_raises_a_plugin_error_naming_the_distribution(site):
    site.add_good("dist-good", "good_one")
    site.add("dist-broken", BROKEN_AT_IMPORT, version="0.9")
    with pytest.raises(PluginError, match=r"plugin 'dist-broken==0\.9' failed to load: ImportError"):
        host(site, strict=True)
    with pytest.raises(PluginError, match=r"dist-broken==0\.9"):
        host(site, environ={"HIMOE_STRICT_PLUGINS": "1"})


def test_strict_mode_for_a_raising_hook(site):
    site.add("dist-raising", RAISING_HOOK)
    with pytest.raises(PluginError, match=r"plugin 'dist-raising==1\.0' raised in a hook"):
        host(site, environ={"HIMOE_STRICT_PLUGINS": "true"})


def test_load_plugins_empty_loads_no_third_party_plugin(site):
    site.add_good("dist-a", "expert_a")
    site.add("dist-broken", BROKEN_AT_IMPORT)
    h = host(site, environ={"HIMOE_LOAD_PLUGINS": ""})
    assert h.expert_infos() == [] and h.plugins() == []
    assert [p.name for p in h.plugins(include_builtins=True)] == ["himoe"]  # built-ins are not affected


@pytest.mark.parametrize("allow", ["dist-a", "Dist_A", "DIST.A", " dist-a , "])
def test_load_plugins_is_an_allow_list_with_normalised_names(site, allow):
    site.add_good("dist-a", "expert_a")
    site.add_good("dist-b", "expert_b")
    site.add("dist-broken", BROKEN_AT_IMPORT)  # not allowed: not even imported, so no warning
    assert expert_names(host(site, environ={"HIMOE_LOAD_PLUGINS": allow})) == ["expert_a"]


def test_load_plugins_matches_a_distribution_declared_with_another_spelling(site):
    site.add_good("Dist_A", "expert_a")
    site.add_good("dist-b", "expert_b")
    h = host(site, environ={"HIMOE_LOAD_PLUGINS": "dist-a"})
    assert expert_names(h) == ["expert_a"]
    assert h.expert_infos()[0].plugin == "Dist_A"


def test_load_plugins_lists_several_distributions(site):
    for letter in "abc":
        site.add_good(f"dist-{letter}", f"expert_{letter}")
    assert expert_names(host(site, environ={"HIMOE_LOAD_PLUGINS": "dist-a,dist-c"})) == ["expert_a", "expert_c"]


def test_disable_plugins_blocks_a_distribution(site):
    site.add_good("dist-a", "expert_a")
    site.add_good("dist-b", "expert_b")
    site.add("dist-broken", BROKEN_AT_IMPORT)
    h = host(site, environ={"HIMOE_DISABLE_PLUGINS": "dist_broken,DIST-B"})
    assert expert_names(h) == ["expert_a"]
    assert [p.dist_name for p in h.plugins()] == ["dist-a"]


def test_disable_plugins_himoe_removes_only_the_builtin(site):
    site.add_good("dist-a", "expert_a")
    h = host(site, environ={"HIMOE_DISABLE_PLUGINS": "himoe"})
    assert expert_names(h) == ["expert_a"]
    assert [p.name for p in h.plugins(include_builtins=True)] == ["dist-a"]
    assert h.aggregators == {}


def test_trace_plugins_traces_entry_point_plugins_too(site, capsys):
    site.add_good("dist-a", "expert_a")
    host(site, environ={"HIMOE_TRACE_PLUGINS": "1"})
    err = capsys.readouterr().err
    assert "register_experts" in err


def test_duplicate_expert_names_across_distributions_name_both(site):
    site.add_good("dist-one", "same_name", version="1.1")
    site.add_good("dist-two", "same_name", version="2.2")
    with pytest.raises(PluginError) as info:
        host(site)
    message = str(info.value)
    assert "'same_name'" in message
    assert "dist-one==1.1" in message and "dist-two==2.2" in message


def test_config_table_is_found_by_distribution_name(site):
    site.add(
        "dist-conf",
        """
        from himoe_core import hookimpl


        class Named:
            domain = "test"

            def __init__(self, name):
                self.name = name

            def can_handle(self, task):
                return True

            def infer(self, x, ctx):
                return None


        @hookimpl
        def register_experts(register, config):
            for name in config.get("experts", []):
                register(Named(name))
    """,
    )
    config = {"plugins": {"dist-conf": {"experts": ["conf_one", "conf_two"]}, "other": {"experts": ["nope"]}}}
    assert expert_names(host(site, config=config)) == ["conf_one", "conf_two"]
    assert expert_names(host(site)) == []


# -- plugins folder ---------------------------------------------------------------------------------------
@pytest.fixture
def plugins_dir(tmp_path) -> Path:
    folder = tmp_path / "local_plugins"
    folder.mkdir()
    (folder / "local_planner.py").write_text(GOOD_PLUGIN.format(cls="LocalExpert", expert="local_expert"))
    (folder / "_helper.py").write_text("raise RuntimeError('helpers are not plugins')\n")
    return folder


def test_a_plugins_folder_loads_its_py_files(plugins_dir):
    h = PluginHost(entry_points=False, plugins_dir=plugins_dir, environ={}, warn=pytest.fail)
    [info] = h.expert_infos()
    assert (info.name, info.plugin, info.version) == ("local_expert", "local_planner", None)
    [plugin] = h.plugins()
    assert (plugin.name, plugin.origin, plugin.ok) == ("local_planner", "directory", True)


def test_the_allow_list_applies_to_the_plugins_folder(plugins_dir):
    blocked = PluginHost(entry_points=False, plugins_dir=plugins_dir, environ={"HIMOE_LOAD_PLUGINS": "other"})
    assert blocked.expert_infos() == [] and blocked.plugins() == []
    allowed = PluginHost(entry_points=False, plugins_dir=plugins_dir, environ={"HIMOE_LOAD_PLUGINS": "Local_Planner"})
    assert expert_names(allowed) == ["local_expert"]
    denied = PluginHost(entry_points=False, plugins_dir=plugins_dir, environ={"HIMOE_DISABLE_PLUGINS": "local-planner"})
    assert denied.expert_infos() == []


def test_a_broken_file_in_the_plugins_folder_is_isolated(plugins_dir):
    (plugins_dir / "broken_local.py").write_text("import missing_dependency_for_himoe_tests\n")
    warnings: list[str] = []
    h = PluginHost(entry_points=False, plugins_dir=plugins_dir, environ={}, warn=warnings.append)
    assert expert_names(h) == ["local_expert"]
    assert len(warnings) == 1 and "'broken_local'" in warnings[0]
    assert "missing_dependency_for_himoe_tests" in warnings[0]


def test_a_missing_plugins_folder_is_a_plugin_error(tmp_path):
    with pytest.raises(PluginError, match="plugins folder not found"):
        PluginHost(entry_points=False, plugins_dir=tmp_path / "nope", environ={})


def test_entry_points_and_folder_and_objects_load_together(site, plugins_dir):
    from himoe_core import hookimpl

    class ObjectPlugin:
        @hookimpl
        def register_experts(self, register):
            register(
                type(
                    "O", (), {"name": "object_expert", "can_handle": lambda s, t: True, "infer": lambda s, x, c: None}
                )()
            )

    site.add_good("dist-a", "expert_a")
    h = host(site, plugins_dir=plugins_dir, plugins=[ObjectPlugin()])
    assert expert_names(h) == ["expert_a", "local_expert", "object_expert"]
    assert {p.origin for p in h.plugins()} == {"entry-point", "directory", "object"}
