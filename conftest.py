"""Test-session defaults for the whole workspace."""

import importlib.util
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

PYTEST_PLUGIN = "himoe_core.testing.pytest_plugin"
ROOT = Path(__file__).resolve().parent
UV = ROOT / ".tools" / ("Scripts/uv.exe" if os.name == "nt" else "bin/uv")


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


def locked_closure(roots) -> tuple[set[str], set[str]]:
    """The names uv.lock pins for `roots` and everything they need (on any platform), and the
    names of every package uv.lock pins."""
    packages: dict[str, list[dict]] = {}
    for package in tomllib.loads((ROOT / "uv.lock").read_text(encoding="utf-8"))["package"]:
        packages.setdefault(package["name"], []).append(package)
    needed, todo = set(), [(name, ()) for name in roots]
    while todo:
        name, extras = todo.pop()
        first = name not in needed
        needed.add(name)
        for package in packages.get(name, []):
            deps = list(package.get("dependencies", [])) if first else []
            for extra in extras:
                deps += package.get("optional-dependencies", {}).get(extra, [])
            todo += [(dep["name"], tuple(dep.get("extra", ()))) for dep in deps]
    return needed, set(packages)


class FreshVenv:
    """A new virtual environment in tmp_path that sees nothing of the environment running the
    tests (no .pth file, PYTHONPATH or editable install reaches it): what a user gets who installs
    himoe's wheels. Created by `python -m venv`, so it has its own pip, as a user's has.

    Third-party dependencies are installed at the versions of uv.lock by the workspace's pinned uv
    (.tools/bin/uv, created by dev.py), from the lock exported as a pylock.toml (exact wheel URLs
    and hashes): they come from uv's cache, filled by dev.py's `uv sync`, without a package index.
    Each uv command runs with --offline first and goes to the index only when the cache lacks
    something (a fresh CI machine has one); `online` lists those commands."""

    def __init__(self, tmp_path: Path):
        self.root = tmp_path / "venv"
        scripts = self.root / ("Scripts" if os.name == "nt" else "bin")
        self.python = scripts / ("python.exe" if os.name == "nt" else "python")
        self.himoe = scripts / ("himoe.exe" if os.name == "nt" else "himoe")
        self.tmp_path = tmp_path
        self.online: list[str] = []
        dropped = {
            "PYTHONPATH",
            "PYTHONHOME",
            "PYTHONSTARTUP",
            "VIRTUAL_ENV",
            "PYTEST_ADDOPTS",
            "PYTEST_PLUGINS",
            "PYTEST_DISABLE_PLUGIN_AUTOLOAD",
            "UV_PROJECT_ENVIRONMENT",
            "UV_SYSTEM_PYTHON",
            "UV_OFFLINE",
            "PIP_INDEX_URL",
            "PIP_EXTRA_INDEX_URL",
            "PIP_FIND_LINKS",
            "PIP_USER",
        }
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k not in dropped and (k == "HIMOE_STATE" or not k.startswith("HIMOE_"))
        }
        self.env.update(
            PYTHONDONTWRITEBYTECODE="1",
            UV_PYTHON_DOWNLOADS="never",
            UV_NO_PROGRESS="1",
            PIP_DISABLE_PIP_VERSION_CHECK="1",
            PIP_NO_INPUT="1",
        )
        self._run([sys.executable, "-m", "venv", self.root], timeout=300)

    def _run(self, cmd, *, cwd=None, timeout=300, check=True):
        cmd = [str(part) for part in cmd]
        result = subprocess.run(
            cmd, capture_output=True, text=True, env=self.env, cwd=cwd or self.tmp_path, timeout=timeout
        )
        if check:
            assert result.returncode == 0, (
                f"{' '.join(cmd)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
        return result

    def uv(self, *args, cwd=None):
        """`uv ARGS`, from uv's cache alone when it can (--offline), else with the package index."""
        offline = self._run([UV, *args, "--offline"], cwd=cwd, check=False)
        if offline.returncode == 0:
            return offline
        self.online.append(f"uv pip {args[1]}" if args[0] == "pip" else f"uv {args[0]}")
        online = self._run([UV, *args], cwd=cwd, check=False)
        assert online.returncode == 0, (
            f"uv {' '.join(map(str, args))} failed ({online.returncode}), offline:\n"
            f"{offline.stderr}\nand with the package index:\n{online.stdout}\n{online.stderr}"
        )
        return online

    def install_locked(self, roots, *, groups=("dev",)) -> set[str]:
        """The third-party packages `roots` (distribution names) need, at the versions and wheels
        of uv.lock; none of the workspace's own packages. Returns the names installed."""
        needed, locked = locked_closure(roots)
        pins = self.tmp_path / "pylock.toml"
        self.uv(
            "export",
            "--frozen",
            "--quiet",
            "--format",
            "pylock.toml",
            "--all-packages",
            "--no-default-groups",
            *(f"--group={group}" for group in groups),
            "--no-emit-workspace",
            *(f"--no-emit-package={name}" for name in sorted(locked - needed)),
            "--output-file",
            pins,
            cwd=ROOT,
        )
        pinned = {package["name"] for package in tomllib.loads(pins.read_text(encoding="utf-8"))["packages"]}
        self.uv("pip", "install", "--quiet", "--python", self.python, "-r", pins)
        return pinned

    def pip(self, *args, **kwargs):
        """The environment's own pip; never the package index (--no-index)."""
        return self.run("-m", "pip", "install", "--quiet", "--no-index", *args, **kwargs)

    def run(self, *args, **kwargs):
        """The environment's own python with ARGS."""
        return self._run([self.python, *args], **kwargs)

    def himoe_command(self, *args, **kwargs):
        """The environment's own `himoe` console script with ARGS."""
        return self._run([self.himoe, *args], **kwargs)

    def site_packages(self) -> Path:
        return Path(self.run("-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())


@pytest.fixture
def fresh_venv(tmp_path):
    """A FreshVenv (see there); skipped without the pinned uv or without ensurepip."""
    if not UV.exists():
        pytest.skip(f"no pinned uv at {UV}: `python3 dev.py test` creates it (run the suite through dev.py)")
    if importlib.util.find_spec("ensurepip") is None:
        pytest.skip(
            "this Python has no ensurepip, so `python -m venv` cannot install pip "
            "(Debian/Ubuntu: apt install python3-venv)"
        )
    venv = FreshVenv(tmp_path)
    yield venv
    if venv.online:
        print(f"uv went to the package index for: {', '.join(venv.online)}")


@pytest.fixture(scope="session")
def built_distributions(tmp_path_factory) -> Path:
    """A folder with the sdist and the wheel of every distribution of the repository, built once
    per test session by `python3 dev.py dist`'s own code (dev.build_distributions)."""
    if importlib.util.find_spec("build") is None or importlib.util.find_spec("hatchling") is None:
        pytest.skip("`build` and `hatchling` are not installed here (both are in the `dev` dependency group)")
    spec = importlib.util.spec_from_file_location("himoe_dev_script", ROOT / "dev.py")
    dev = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dev)
    out = tmp_path_factory.mktemp("dist")
    dev.build_distributions(Path(sys.executable), out)
    return out
