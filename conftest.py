"""Test-session defaults for the whole workspace."""

import os
import subprocess
import sys
import sysconfig
import types
from pathlib import Path

import pytest

PYTEST_PLUGIN = "himoe_core.testing.pytest_plugin"


def pytest_configure(config):
    # himoe's pytest plugin (fixtures himoe_factory, mock_clock, run_trio) is registered by the
    # `pytest11` entry point once the environment is synced with it; until then (or with
    # PYTEST_DISABLE_PLUGIN_AUTOLOAD), register it here — never twice, whatever the entry point's name.
    import importlib

    plugin = importlib.import_module(PYTEST_PLUGIN)
    if not config.pluginmanager.is_registered(plugin):
        config.pluginmanager.register(plugin, PYTEST_PLUGIN)


def himoe_entry_point_installed() -> bool:
    """Whether pytest autoloads himoe's plugin: an installed `pytest11` entry point names it."""
    import importlib_metadata

    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        return False
    return any(ep.value == PYTEST_PLUGIN for ep in importlib_metadata.entry_points(group="pytest11"))


@pytest.fixture
def himoe_plugin_args():
    """Arguments that give a nested pytest run (pytester, or a subprocess) himoe's fixtures:
    none when the entry point is installed, else an explicit ``-p``."""
    return [] if himoe_entry_point_installed() else ["-p", PYTEST_PLUGIN]


@pytest.fixture(autouse=True)
def _private_state_file(tmp_path, monkeypatch):
    # Never write a developer's real ~/.local/share/himoe/state.sqlite3 from a test, in this
    # process or in the `himoe` subprocesses tests start (they inherit the environment).
    monkeypatch.setenv("HIMOE_STATE", str(tmp_path / "himoe-state.sqlite3"))


@pytest.fixture
def workspace_venv(tmp_path):
    """A fresh virtual environment (in tmp_path) that also sees every package installed in the
    environment running the tests — the core, its dependencies, pytest — through a ``.pth`` file,
    so that a plugin can be pip-installed into it for real without touching .venv.

    Returns a namespace: `python` (its interpreter), `run(*args, **kw)` (a subprocess with that
    interpreter, output captured as text, checked) and `build_flags` (``--no-build-isolation`` when
    hatchling and editables are importable here — an offline build — else nothing: pip fetches
    them from the package index).
    """
    import importlib.util

    if importlib.util.find_spec("ensurepip") is None:
        pytest.skip("this Python has no ensurepip, so `python -m venv` cannot install pip "
                    "(Debian/Ubuntu: apt install python3-venv)")
    root = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(root)], check=True, capture_output=True, timeout=120)
    python = root / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    ours = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    # `import` lines of a .pth run: addsitedir also processes that folder's own .pth files
    # (the workspace's editable installs).
    Path(site, "himoe_workspace.pth").write_text("".join(f"import site; site.addsitedir({p!r})\n" for p in ours))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" and (k == "HIMOE_STATE" or not k.startswith("HIMOE_"))}
    env.update(PIP_DISABLE_PIP_VERSION_CHECK="1", PIP_NO_INPUT="1", PYTHONDONTWRITEBYTECODE="1")

    def run(*args, timeout=180, **kwargs):
        result = subprocess.run([str(python), *map(str, args)], capture_output=True, text=True, env=env,
                                timeout=timeout, **kwargs)
        assert result.returncode == 0, (f"{python.name} {' '.join(map(str, args))} failed ({result.returncode}):\n"
                                        f"{result.stdout}\n{result.stderr}")
        return result

    # hatchling builds the wheels; editables, hatchling's editable installs.
    offline = all(importlib.util.find_spec(name) is not None for name in ("hatchling", "editables"))
    build_flags = ["--no-build-isolation"] if offline else []
    return types.SimpleNamespace(root=root, python=python, run=run, env=env, build_flags=build_flags)
