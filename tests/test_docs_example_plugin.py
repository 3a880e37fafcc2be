"""docs/examples/himoe-example, the plugin guide's complete example, works as published: built
into a wheel and installed into a fresh virtual environment — with the core and the registry
built into wheels from this workspace and installed for real, next to their third-party
dependencies at the versions of uv.lock — it passes its own tests, and that environment's own
`himoe` command lists its experts and routes to them.

Nothing of the test runner's environment is visible in the new one (no .pth file, no
PYTHONPATH, no editable install): what a user gets who installs the core, the registry and the
plugin from their wheels. The installs use the workspace's pinned uv (.tools/bin/uv, created by
dev.py) and the pins of uv.lock exported as a pylock.toml (exact wheel URLs and hashes), so
that they come from uv's cache — filled by dev.py's `uv sync` — without a package index; each
uv command runs with --offline first and only goes to the index when the cache lacks something.
The example is copied out first, and every wheel is built into tmp_path, so that nothing is
built or cached in the repository.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "examples" / "himoe-example"
UV = ROOT / ".tools" / ("Scripts/uv.exe" if os.name == "nt" else "bin/uv")
TEST_TOOLS = ("pytest",)  # what the example's tests need besides himoe (its `test` extra)


def convention_problems(package_root: Path) -> list[str]:
    """The repository's own file-convention checker (tests/test_file_convention.py) on a package."""
    spec = importlib.util.spec_from_file_location("himoe_file_convention", ROOT / "tests" / "test_file_convention.py")
    checker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(checker)
    return [f"{path.name}: {problem}" for path in sorted(package_root.rglob("*.py"))
            for problem in checker.check_file(path, package_root, plugin=True)]


def test_the_example_is_a_standalone_distribution_following_the_convention():
    pyproject = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == "himoe-example"
    assert pyproject["project"]["dependencies"] == ["himoe"]
    assert pyproject["project"]["optional-dependencies"]["test"] == ["pytest>=8"]  # TEST_TOOLS
    assert pyproject["project"]["entry-points"]["himoe"] == {"himoe-example": "himoe_example.plugin"}
    assert "uv" not in pyproject.get("tool", {})  # not a member of the workspace: built like a third party's
    workspace = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]["members"]
    assert not any(member.startswith("docs") for member in workspace)
    assert convention_problems(EXAMPLE / "himoe_example") == []


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
    """A new virtual environment in tmp_path, filled only by the pinned uv — nothing of the
    environment running the tests (no .pth file, PYTHONPATH or editable install reaches it)."""

    def __init__(self, tmp_path: Path):
        self.root = tmp_path / "venv"
        scripts = self.root / ("Scripts" if os.name == "nt" else "bin")
        self.python = scripts / ("python.exe" if os.name == "nt" else "python")
        self.himoe = scripts / ("himoe.exe" if os.name == "nt" else "himoe")
        self.tmp_path = tmp_path
        self.online: list[str] = []  # the uv commands that needed the package index
        dropped = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "PYTEST_ADDOPTS", "PYTEST_PLUGINS",
                   "PYTEST_DISABLE_PLUGIN_AUTOLOAD", "UV_PROJECT_ENVIRONMENT", "UV_SYSTEM_PYTHON", "UV_OFFLINE"}
        self.env = {k: v for k, v in os.environ.items()
                    if k not in dropped and (k == "HIMOE_STATE" or not k.startswith("HIMOE_"))}
        self.env.update(PYTHONDONTWRITEBYTECODE="1", UV_PYTHON_DOWNLOADS="never", UV_NO_PROGRESS="1")

    def _run(self, cmd, *, cwd=None, timeout=300, check=True):
        cmd = [str(part) for part in cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, env=self.env, cwd=cwd or self.tmp_path,
                                timeout=timeout)
        if check:
            assert result.returncode == 0, (f"{' '.join(cmd)} failed ({result.returncode}):\n"
                                            f"{result.stdout}\n{result.stderr}")
        return result

    def uv(self, *args, cwd=None):
        """`uv ARGS`, from uv's cache alone when it can (--offline), else with the package index."""
        offline = self._run([UV, *args, "--offline"], cwd=cwd, check=False)
        if offline.returncode == 0:
            return offline
        self.online.append(f"uv pip {args[1]}" if args[0] == "pip" else f"uv {args[0]}")
        online = self._run([UV, *args], cwd=cwd, check=False)
        assert online.returncode == 0, (f"uv {' '.join(map(str, args))} failed ({online.returncode}), offline:\n"
                                        f"{offline.stderr}\nand with the package index:\n{online.stdout}\n{online.stderr}")
        return online

    def run(self, *args, **kwargs):
        """The environment's own python with ARGS."""
        return self._run([self.python, *args], **kwargs)

    def himoe_command(self, *args, **kwargs):
        """The environment's own `himoe` console script with ARGS."""
        return self._run([self.himoe, *args], **kwargs)


@pytest.fixture
def fresh_venv(tmp_path):
    if not UV.exists():
        pytest.skip(f"no pinned uv at {UV}: `python3 dev.py test` creates it (run the suite through dev.py)")
    venv = FreshVenv(tmp_path)
    venv.uv("venv", "--quiet", "--python", sys.executable, venv.root)
    yield venv
    if venv.online:
        print(f"uv went to the package index for: {', '.join(venv.online)}")


def test_the_example_wheel_installs_and_works(tmp_path, fresh_venv):
    venv = fresh_venv
    # The third-party dependencies of the core and the registry, and the example's test tools, at
    # the versions (wheels, hashes) of uv.lock; none of the workspace's own packages.
    needed, locked = locked_closure({"himoe", *TEST_TOOLS})
    pins = tmp_path / "pylock.toml"
    venv.uv("export", "--frozen", "--quiet", "--format", "pylock.toml", "--package", "himoe", "--no-default-groups",
            "--group", "dev", "--no-emit-workspace", *(f"--no-emit-package={name}" for name in sorted(locked - needed)),
            "--output-file", pins, cwd=ROOT)
    pinned = {package["name"] for package in tomllib.loads(pins.read_text(encoding="utf-8"))["packages"]}
    assert {"attrs", "importlib-metadata", "numpy", "pluggy", "trio", *TEST_TOOLS} <= pinned, pinned
    assert not pinned & {"himoe", "himoe-registry", "himoe-example", "hypothesis", "mkdocs", "hatchling", "pip"}
    venv.uv("pip", "install", "--quiet", "--python", venv.python, "-r", pins)

    # The registry, the core and the example, each built into a wheel (the example from a copy).
    source = tmp_path / "himoe-example"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache"))
    dist = tmp_path / "dist"
    for project in (ROOT / "registry", ROOT, source):
        venv.uv("build", "--quiet", "--wheel", "--out-dir", dist, project)
    [registry_wheel] = dist.glob("himoe_registry-0.1.0-*.whl")
    [core_wheel] = dist.glob("himoe-0.1.0-*.whl")
    [wheel] = dist.glob("himoe_example-0.1.0-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = archive.read("himoe_example-0.1.0.dist-info/entry_points.txt").decode()
    assert {"himoe_example/plugin.py", "himoe_example/experts/text/word_count_expert.py",
            "himoe_example/experts/text/sentiment_lexicon_expert.py"} <= names
    assert not any(name.startswith("tests/") for name in names)
    assert "[himoe]\nhimoe-example = himoe_example.plugin" in entry_points

    # Installed with their dependencies resolved (already there, at the pinned versions).
    venv.uv("pip", "install", "--quiet", "--python", venv.python, registry_wheel, core_wheel, wheel)
    venv.uv("pip", "check", "--quiet", "--python", venv.python)
    where = json.loads(venv.run("-c", "import json, sys, himoe_core, himoe_registry, himoe_example; print(json.dumps("
                                "[m.__file__ for m in (himoe_core, himoe_registry, himoe_example)] + sys.path))").stdout)
    modules, path = where[:3], where[3:]
    assert all(Path(module).is_relative_to(venv.root) for module in modules), modules  # the wheels, not the sources
    assert not [entry for entry in path if entry and Path(entry).resolve().is_relative_to(ROOT)], path

    # The example's own tests, with himoe's pytest plugin registered by the core wheel's entry point.
    tests = venv.run("-m", "pytest", "-q", "-p", "no:cacheprovider", source / "tests")
    assert tests.stdout.splitlines()[-1].startswith("22 passed"), tests.stdout

    listed = {e["name"]: e for e in json.loads(venv.himoe_command("list-experts", "--json").stdout)}
    for name in ("word_count", "sentiment_lexicon"):
        assert (listed[name]["plugin"], listed[name]["version"], listed[name]["domain"]) == (
            "himoe-example", "0.1.0", "text")

    answer = json.loads(venv.himoe_command("run", "count: The cat sat. The cat ran away!", "--json").stdout)
    assert answer["value"]["data"]["words"] == 7 and answer["value"]["data"]["sentences"] == 2
    assert [c["expert"] for c in answer["trace"]["attempts"][-1]["calls"]] == ["word_count"]
    explained = venv.himoe_command("run", "sentiment: not bad at all, really helpful", "--explain").stdout
    assert "sentiment_lexicon" in explained and "positive" in explained
