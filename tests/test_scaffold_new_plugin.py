"""`himoe new-plugin NAME`: names, layout, refusals, and what it prints (no install: see
test_scaffold_install.py for the generated plugin installed and passing its own tests)."""

from __future__ import annotations

import ast
import importlib.util
import tomllib
from pathlib import Path

import pytest

from himoe_core._cli.main import main
from himoe_core._scaffold import create_plugin, next_steps, plugin_names, render_plugin, validate_name

ROOT = Path(__file__).resolve().parents[1]


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


@pytest.mark.parametrize(
    "name, expected",
    [
        (
            "echo",
            {
                "dist": "himoe-echo",
                "package": "himoe_echo",
                "class_name": "EchoExpert",
                "module": "echo_expert",
                "prefix": "echo:",
            },
        ),
        (
            "word_count",
            {
                "dist": "himoe-word-count",
                "package": "himoe_word_count",
                "class_name": "WordCountExpert",
                "module": "word_count_expert",
                "prefix": "word_count:",
            },
        ),
        ("nlp2", {"dist": "himoe-nlp2", "package": "himoe_nlp2", "class_name": "Nlp2Expert", "module": "nlp2_expert"}),
    ],
)
def test_names_derived_from_the_plugin_name(name, expected):
    names = plugin_names(name)
    assert {key: names[key] for key in expected} == expected
    assert names["domain"] == "general" and names["expert_name"] == name


@pytest.mark.parametrize(
    "bad", ["Echo", "1echo", "echo-plugin", "_echo", "echo_", "echo__x", "", "é", "a" * 41, "echo plugin"]
)
def test_invalid_names_are_refused(bad):
    with pytest.raises(ValueError, match="invalid plugin name .*lower-case letters, digits and single underscores"):
        validate_name(bad)


@pytest.mark.parametrize("reserved", ["core", "registry"])
def test_names_of_himoe_itself_are_refused(reserved):
    with pytest.raises(ValueError, match=f"himoe_{reserved} is part of himoe itself"):
        plugin_names(reserved)


def test_the_generated_layout(tmp_path):
    target = create_plugin("echo", tmp_path / "himoe-echo")
    files = sorted(p.relative_to(target).as_posix() for p in target.rglob("*") if p.is_file())
    assert files == [
        ".gitignore",
        "README.md",
        "himoe_echo/__init__.py",
        "himoe_echo/experts/__init__.py",
        "himoe_echo/experts/general/__init__.py",
        "himoe_echo/experts/general/echo_expert.py",
        "himoe_echo/plugin.py",
        "pyproject.toml",
        "tests/test_echo_expert.py",
        "tests/test_echo_plugin.py",
    ]
    pyproject = tomllib.loads((target / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == "himoe-echo"
    assert pyproject["project"]["dependencies"] == ["himoe>=0.1", "attrs>=23.1"]  # what it imports
    assert pyproject["project"]["entry-points"]["himoe"] == {"himoe-echo": "himoe_echo.plugin"}
    assert pyproject["build-system"]["build-backend"] == "hatchling.build"
    assert pyproject["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"] == ["himoe_echo"]
    assert "uv" not in pyproject["tool"]  # outside himoe's own workspace: a plain distribution
    plugin = (target / "himoe_echo/plugin.py").read_text()
    assert "@hookimpl\ndef register_experts(register, config):" in plugin
    readme = (target / "README.md").read_text()
    assert (
        readme.startswith("# himoe-echo\n")
        and 'himoe run "echo: hello"' in readme
        and "$" not in readme.replace("$ ", "")
    )


def test_every_generated_python_file_parses_and_follows_the_convention(tmp_path):
    target = create_plugin("word_count", tmp_path / "out", domain="text")
    for path in target.rglob("*.py"):
        ast.parse(path.read_text(), filename=str(path))
    expert = target / "himoe_word_count/experts/text/word_count_expert.py"
    [cls] = [n for n in ast.parse(expert.read_text()).body if isinstance(n, ast.ClassDef)]
    assert cls.name == "WordCountExpert"
    assert convention_problems(target / "himoe_word_count") == []


def test_the_templates_leave_no_placeholder():
    for text in render_plugin("some_name", "vision").values():
        assert "$" not in text.replace("$ ", ""), text


def test_an_existing_folder_is_never_overwritten(tmp_path):
    target = tmp_path / "taken"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="already exists and is not empty; nothing was written"):
        create_plugin("echo", target)
    assert [p.name for p in target.iterdir()] == ["keep.txt"]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert (create_plugin("echo", empty) / "pyproject.toml").is_file()  # an empty folder is fine
    afile = tmp_path / "a-file"
    afile.write_text("x")
    with pytest.raises(FileExistsError, match="is not a folder"):
        create_plugin("echo", afile)


def test_a_plugin_inside_himoe_uv_workspace_builds_against_the_workspace_core(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "himoe"\n[tool.uv.workspace]\nmembers = ["registry", "plugins/*"]\n'
    )
    inside = tomllib.loads((create_plugin("echo", tmp_path / "plugins/himoe-echo") / "pyproject.toml").read_text())
    assert inside["tool"]["uv"]["sources"] == {"himoe": {"workspace": True}}
    outside = tomllib.loads((create_plugin("echo", tmp_path / "elsewhere/himoe-echo") / "pyproject.toml").read_text())
    assert "uv" not in outside["tool"]


# -- the command ------------------------------------------------------------------------------------------------
def test_the_command_creates_the_plugin_and_prints_next_steps(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["new-plugin", "echo"]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "himoe-echo/himoe_echo/experts/general/echo_expert.py").is_file()
    assert out.startswith(
        "created himoe-echo in himoe-echo/ (package himoe_echo, expert echo in "
        "himoe_echo/experts/general/echo_expert.py)\nnext steps:\n"
    )
    assert "  pip install -e ./himoe-echo " in out and "  pytest ./himoe-echo " in out
    assert "  himoe run 'echo: hello' " in out


def test_the_command_with_dir_and_domain(tmp_path, capsys):
    target = tmp_path / "my plugin"
    assert main(["new-plugin", "word_count", "--dir", str(target), "--domain", "text"]) == 0
    assert (target / "himoe_word_count/experts/text/word_count_expert.py").is_file()
    assert f"pip install -e '{target}'" in capsys.readouterr().out  # quoted for the shell
    assert next_steps("word_count", target).splitlines()[0] == "next steps:"


def test_the_command_refuses_with_one_clear_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["new-plugin", "Bad-Name"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("himoe: error: invalid plugin name 'Bad-Name'") and err.count("\n") == 1
    assert main(["new-plugin", "echo", "--domain", "Vision"]) == 2
    assert "invalid domain 'Vision'" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    assert main(["new-plugin", "echo"]) == 0
    capsys.readouterr()
    assert main(["new-plugin", "echo"]) == 1
    assert capsys.readouterr().err == (
        "himoe: error: folder 'himoe-echo' already exists and is not empty; nothing "
        "was written (choose another --dir, or remove it)\n"
    )
