"""HIMOE_LOAD_PLUGINS is an allow-list everywhere the plugin manager loads — installed entry
points, the plugins folder, HiMoE (given the variables or reading os.environ) and every `himoe`
command — and a plugin it leaves out is never even imported: each test plugin writes a marker
file when its module runs, so "registered" and "ran" are both checked.

(PluginHost's filtering itself — names normalised, the empty string, DISABLE winning over LOAD —
is tested in tests/test_plugins_settings.py and tests/test_plugins_discovery.py.)"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import pytest

from himoe_core import HiMoE
from himoe_core.plugins import PluginHost

SPY = textwrap.dedent("""
    import os
    from pathlib import Path
    from himoe_core import hookimpl

    Path(os.environ["HIMOE_SPY_DIR"], "{name}").touch()   # this module ran


    class Spy:
        name = "{expert}"
        domain = "test"

        def can_handle(self, task):
            return True

        def infer(self, x, ctx):
            return "{expert}"


    @hookimpl
    def register_experts(register):
        register(Spy())
""")


class Plugins:
    """Two installed distributions (spy-a, spy-b) in a site folder, one file (spy_local.py) in a
    plugins folder; every module marks `markers` when it is imported."""

    def __init__(self, root: Path) -> None:
        self.site, self.folder, self.markers = root / "site", root / "plugins", root / "markers"
        for path in (self.site, self.folder, self.markers):
            path.mkdir()
        suffix = uuid.uuid4().hex[:8]  # fresh module names: nothing cached from another test
        for dist in ("spy-a", "spy-b"):
            module = f"himoe_spy_{dist[-1]}_{suffix}"
            info = self.site / f"{dist.replace('-', '_')}-1.0.dist-info"
            info.mkdir()
            (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 1.0\n")
            (info / "entry_points.txt").write_text(f"[himoe]\n{dist} = {module}\n")
            (self.site / f"{module}.py").write_text(SPY.format(name=dist, expert=f"{dist[-1]}_spy"))
        (self.folder / "spy_local.py").write_text(SPY.format(name="spy-local", expert="local_spy"))

    def ran(self) -> set[str]:
        return {p.name for p in self.markers.iterdir()}

    def reset(self) -> None:
        for path in self.markers.iterdir():
            path.unlink()


@pytest.fixture
def plugins(tmp_path, monkeypatch) -> Plugins:
    plugins = Plugins(tmp_path)
    monkeypatch.setenv("HIMOE_SPY_DIR", str(plugins.markers))
    monkeypatch.syspath_prepend(str(plugins.site))
    return plugins


ALLOW = [
    # HIMOE_LOAD_PLUGINS, the spies that may run (and register)
    ("spy-a", {"spy-a"}),
    ("Spy_B, spy-local", {"spy-b", "spy-local"}),
    ("", set()),
    (None, {"spy-a", "spy-b", "spy-local"}),  # unset: everything
]
SPY_EXPERTS = {"spy-a": "a_spy", "spy-b": "b_spy", "spy-local": "local_spy"}


def expected_experts(allowed: set[str]) -> set[str]:
    return {SPY_EXPERTS[name] for name in allowed}


def spy_experts(names) -> set[str]:
    return {name for name in names if name.endswith("_spy")}


@pytest.mark.parametrize("load, allowed", ALLOW)
def test_plugin_host_loads_and_imports_only_what_is_allowed(plugins, load, allowed):
    environ = {} if load is None else {"HIMOE_LOAD_PLUGINS": load}
    host = PluginHost(search_path=[str(plugins.site)], plugins_dir=plugins.folder, environ=environ)
    assert spy_experts(name for _, name in host.experts.list()) == expected_experts(allowed)
    assert plugins.ran() == allowed, "a plugin left out by HIMOE_LOAD_PLUGINS was imported"


@pytest.mark.parametrize("load, allowed", ALLOW)
def test_himoe_honours_the_allow_list_given_or_from_the_environment(plugins, monkeypatch, load, allowed):
    environ = {} if load is None else {"HIMOE_LOAD_PLUGINS": load}
    with HiMoE(plugins_dir=plugins.folder, environ=environ, config={"state": {"enabled": False}}) as moe:
        assert spy_experts(name for _, name in moe.host.experts.list()) == expected_experts(allowed)
    assert plugins.ran() == allowed
    plugins.reset()
    if load is None:
        monkeypatch.delenv("HIMOE_LOAD_PLUGINS", raising=False)
    else:
        monkeypatch.setenv("HIMOE_LOAD_PLUGINS", load)
    with HiMoE(plugins_dir=plugins.folder, config={"state": {"enabled": False}}) as moe:  # os.environ
        assert spy_experts(name for _, name in moe.host.experts.list()) == expected_experts(allowed)
    assert plugins.ran() <= allowed  # installed modules imported above are not run again


COMMANDS = [
    ["list-experts", "--json"],
    ["plugins", "--json"],
    ["run", "hello", "--json"],
    ["stats", "--json"],
    ["feedback", "0123456789abcdef", "--reward", "1"],
    ["evaluate", "--router", "default"],
    ["demo"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=[c[0] for c in COMMANDS])
def test_every_command_honours_the_allow_list(plugins, tmp_path, command):
    env = {k: v for k, v in os.environ.items() if not k.startswith("HIMOE_")}
    env.update(
        HIMOE_SPY_DIR=str(plugins.markers),
        HIMOE_STATE=str(tmp_path / "state.sqlite3"),
        HIMOE_LOAD_PLUGINS="spy-a",
        PYTHONPATH=os.pathsep.join([str(plugins.site), env.get("PYTHONPATH", "")]),
    )
    proc = subprocess.run(
        [sys.executable, "-m", "himoe_core", "--plugins-dir", str(plugins.folder), *command],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    assert plugins.ran() == {"spy-a"}, f"{' '.join(command)}: ran {plugins.ran()}\n{proc.stderr}"
    if command[0] == "list-experts":
        assert '"a_spy"' in proc.stdout and "b_spy" not in proc.stdout and "math_sympy" not in proc.stdout
