"""docs/examples/himoe-example, the plugin guide's complete example, works as published: built
into a wheel, installed into a fresh virtual environment, it passes its own tests, and the
`himoe` command lists its experts and routes to them.

The fresh environment reaches the workspace's installed core and its dependencies through a .pth
file (the `workspace_venv` fixture) instead of installing a core wheel too: the same plugin
install a user does (the plugin's wheel, by pip), in seconds, with no network when hatchling is
available — where installing the core and numpy/trio/pluggy/attrs fresh would need a package
index and several times longer. The example is copied out first, so that nothing is built or
cached inside docs/.
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
    assert pyproject["project"]["entry-points"]["himoe"] == {"himoe-example": "himoe_example.plugin"}
    assert "uv" not in pyproject.get("tool", {})  # not a member of the workspace: built like a third party's
    workspace = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]["members"]
    assert not any(member.startswith("docs") for member in workspace)
    assert convention_problems(EXAMPLE / "himoe_example") == []


def test_the_example_wheel_installs_and_works(tmp_path, workspace_venv, himoe_plugin_args):
    source = tmp_path / "himoe-example"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache"))
    venv = workspace_venv
    venv.run("-m", "pip", "wheel", "--quiet", "--no-deps", *venv.build_flags, "--wheel-dir", tmp_path / "dist", source)
    [wheel] = (tmp_path / "dist").glob("himoe_example-0.1.0-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        entry_points = archive.read("himoe_example-0.1.0.dist-info/entry_points.txt").decode()
    assert {"himoe_example/plugin.py", "himoe_example/experts/text/word_count_expert.py",
            "himoe_example/experts/text/sentiment_lexicon_expert.py"} <= names
    assert not any(name.startswith("tests/") for name in names)
    assert "[himoe]\nhimoe-example = himoe_example.plugin" in entry_points

    venv.run("-m", "pip", "install", "--quiet", "--no-deps", wheel)
    where = venv.run("-c", "import himoe_example; print(himoe_example.__file__)", cwd=tmp_path).stdout
    assert str(venv.root) in where  # the installed wheel, not the copied sources

    tests = venv.run("-m", "pytest", "-q", "-p", "no:cacheprovider", *himoe_plugin_args, source / "tests",
                     cwd=tmp_path)
    assert tests.stdout.splitlines()[-1].startswith("21 passed"), tests.stdout

    listed = {e["name"]: e for e in json.loads(venv.run("-m", "himoe_core", "list-experts", "--json").stdout)}
    for name in ("word_count", "sentiment_lexicon"):
        assert (listed[name]["plugin"], listed[name]["version"], listed[name]["domain"]) == (
            "himoe-example", "0.1.0", "text")

    answer = json.loads(venv.run("-m", "himoe_core", "run", "count: The cat sat. The cat ran away!", "--json",
                                 cwd=tmp_path).stdout)
    assert answer["value"]["data"]["words"] == 7 and answer["value"]["data"]["sentences"] == 2
    assert [c["expert"] for c in answer["trace"]["attempts"][-1]["calls"]] == ["word_count"]
    explained = venv.run("-m", "himoe_core", "run", "sentiment: not bad at all, really helpful", "--explain",
                         cwd=tmp_path).stdout
    assert "sentiment_lexicon" in explained and "positive" in explained
