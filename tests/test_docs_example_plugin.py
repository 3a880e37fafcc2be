"""docs/examples/himoe-example, the plugin guide's complete example, works as published: built
into a wheel and installed into a fresh virtual environment — with the core and the registry
built into wheels from this workspace and installed for real, next to their third-party
dependencies at the versions of uv.lock — it passes its own tests, and that environment's own
`himoe` command lists its experts and routes to them.

Nothing of the test runner's environment is visible in the new one (no .pth file, no
PYTHONPATH, no editable install): what a user gets who installs the core, the registry and the
plugin from their wheels. The third-party dependencies come from uv's cache at the versions of
uv.lock (the `fresh_venv` fixture, in conftest.py); the core and the registry are the session's
wheels (`built_distributions`). The example is copied out first and built into tmp_path, so
that nothing is built or cached in the repository.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "examples" / "himoe-example"
TEST_TOOLS = ("pytest", "importlib-metadata")  # what the example's tests need besides himoe (its `test` extra)


def convention_problems(package_root: Path) -> list[str]:
    """The repository's own file-convention checker (tests/test_file_convention.py) on a package."""
    spec = importlib.util.spec_from_file_location("himoe_file_convention", ROOT / "tests" / "test_file_convention.py")
    checker = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(checker)
    return [
        f"{path.name}: {problem}"
        for path in sorted(package_root.rglob("*.py"))
        for problem in checker.check_file(path, package_root, plugin=True)
    ]


def test_the_example_is_a_standalone_distribution_following_the_convention():
    pyproject = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == "himoe-example"
    assert pyproject["project"]["dependencies"] == ["himoe>=0.1", "attrs>=23.1"]  # what it imports
    assert pyproject["project"]["optional-dependencies"]["test"] == ["pytest>=8", "importlib-metadata>=7"]  # TEST_TOOLS
    assert pyproject["project"]["entry-points"]["himoe"] == {"himoe-example": "himoe_example.plugin"}
    assert "uv" not in pyproject.get("tool", {})  # not a member of the workspace: built like a third party's
    workspace = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]["members"]
    assert not any(member.startswith("docs") for member in workspace)
    assert convention_problems(EXAMPLE / "himoe_example") == []


def test_the_example_wheel_installs_and_works(tmp_path, fresh_venv, built_distributions):
    venv = fresh_venv
    # The third-party dependencies of the core and the registry, and the example's test tools, at
    # the versions (wheels, hashes) of uv.lock; none of the workspace's own packages.
    pinned = venv.install_locked({"himoe", *TEST_TOOLS})
    assert {"attrs", "importlib-metadata", "numpy", "pluggy", "trio", *TEST_TOOLS} <= pinned, pinned
    assert not pinned & {"himoe", "himoe-registry", "himoe-example", "hypothesis", "mkdocs", "hatchling", "pip"}

    # The registry and the core from their wheels (built once per session, as `dev.py dist` does),
    # the example built into a wheel from a copy.
    source = tmp_path / "himoe-example"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache"))
    dist = tmp_path / "dist"
    venv.uv("build", "--quiet", "--wheel", "--out-dir", dist, source)
    [registry_wheel] = built_distributions.glob("himoe_registry-0.1.0-*.whl")
    [core_wheel] = built_distributions.glob("himoe-0.1.0-*.whl")
    [wheel] = dist.glob("himoe_example-0.1.0-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = archive.read("himoe_example-0.1.0.dist-info/entry_points.txt").decode()
    assert {
        "himoe_example/plugin.py",
        "himoe_example/experts/text/word_count_expert.py",
        "himoe_example/experts/text/sentiment_lexicon_expert.py",
    } <= names
    assert not any(name.startswith("tests/") for name in names)
    assert "[himoe]\nhimoe-example = himoe_example.plugin" in entry_points

    # Installed with their dependencies resolved (already there, at the pinned versions).
    venv.uv("pip", "install", "--quiet", "--python", venv.python, registry_wheel, core_wheel, wheel)
    venv.uv("pip", "check", "--quiet", "--python", venv.python)
    where = json.loads(
        venv.run(
            "-c",
            "import json, sys, himoe_core, himoe_registry, himoe_example; print(json.dumps("
            "[m.__file__ for m in (himoe_core, himoe_registry, himoe_example)] + sys.path))",
        ).stdout
    )
    modules, path = where[:3], where[3:]
    assert all(Path(module).is_relative_to(venv.root) for module in modules), modules  # the wheels, not the sources
    assert not [entry for entry in path if entry and Path(entry).resolve().is_relative_to(ROOT)], path

    # The example's own tests, with himoe's pytest plugin registered by the core wheel's entry point.
    tests = venv.run("-m", "pytest", "-q", "-p", "no:cacheprovider", source / "tests")
    assert tests.stdout.splitlines()[-1].startswith("22 passed"), tests.stdout

    listed = {e["name"]: e for e in json.loads(venv.himoe_command("list-experts", "--json").stdout)}
    for name in ("word_count", "sentiment_lexicon"):
        assert (listed[name]["plugin"], listed[name]["version"], listed[name]["domain"]) == (
            "himoe-example",
            "0.1.0",
            "text",
        )

    answer = json.loads(venv.himoe_command("run", "count: The cat sat. The cat ran away!", "--json").stdout)
    assert answer["value"]["data"]["words"] == 7 and answer["value"]["data"]["sentences"] == 2
    assert [c["expert"] for c in answer["trace"]["attempts"][-1]["calls"]] == ["word_count"]
    explained = venv.himoe_command("run", "sentiment: not bad at all, really helpful", "--explain").stdout
    assert "sentiment_lexicon" in explained and "positive" in explained
