"""`himoe --version` and `himoe list-experts`, through the REAL console entry point."""

import json
import os
import subprocess
import sys
from pathlib import Path

import importlib_metadata
import pytest

HIMOE = Path(sys.executable).parent / ("himoe.exe" if os.name == "nt" else "himoe")
PLANNER_ID = "21173fea50be1d0d"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HIMOE_") and k != "PYTHONPATH"}
    env.update(extra)
    return env


def himoe(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(HIMOE), *args], capture_output=True, text=True, env=clean_env(**env), timeout=60)


def test_the_console_script_is_installed():
    assert HIMOE.exists(), f"{HIMOE} is missing: is the himoe distribution installed in this environment?"


def test_version():
    result = himoe("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"himoe {importlib_metadata.version('himoe')}"


def test_list_experts_table():
    result = himoe("list-experts")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["ID", "NAME", "DOMAIN", "PLUGIN", "DESCRIPTION"]
    [row] = [line for line in lines if " rule_planner " in line]
    assert row.split()[:4] == [PLANNER_ID, "rule_planner", "planning", "himoe-planning==0.1.0"]
    assert result.stderr == ""


def test_list_experts_json():
    result = himoe("list-experts", "--json")
    assert result.returncode == 0, result.stderr
    experts = json.loads(result.stdout)
    assert isinstance(experts, list) and experts
    names = [e["name"] for e in experts]
    assert names == sorted(names)
    for entry in experts:
        assert set(entry) == {"id", "name", "domain", "plugin", "version", "description", "example"}
        assert len(entry["id"]) == 16 and int(entry["id"], 16) >= 0
    [planner] = [e for e in experts if e["name"] == "rule_planner"]
    assert planner == {
        "id": PLANNER_ID,
        "name": "rule_planner",
        "domain": "planning",
        "plugin": "himoe-planning",
        "version": "0.1.0",
        "description": 'Turns a goal into a Plan of steps by rules: lists, sentences and "then" sequencing.',
        "example": "plan: write the tests, then ship the release",
    }


def test_python_dash_m_matches_the_console_script():
    module = subprocess.run(
        [sys.executable, "-m", "himoe_core", "list-experts", "--json"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
    )
    assert module.returncode == 0, module.stderr
    assert json.loads(module.stdout) == json.loads(himoe("list-experts", "--json").stdout)
    version = subprocess.run(
        [sys.executable, "-m", "himoe_core", "--version"], capture_output=True, text=True, env=clean_env(), timeout=60
    )
    assert version.stdout.startswith("himoe ")


def test_empty_load_plugins_lists_no_third_party_expert():
    result = himoe("list-experts", "--json", HIMOE_LOAD_PLUGINS="")
    assert result.returncode == 0, result.stderr
    experts = json.loads(result.stdout)
    assert "rule_planner" not in [e["name"] for e in experts]
    assert experts == []


def test_empty_table_says_how_to_get_experts():
    result = himoe("list-experts", HIMOE_LOAD_PLUGINS="")
    assert result.returncode == 0
    assert "rule_planner" not in result.stdout
    assert "no experts installed" in result.stderr


def test_load_plugins_allow_list_keeps_the_planner():
    result = himoe("list-experts", "--json", HIMOE_LOAD_PLUGINS="Himoe_Planning")
    assert [e["name"] for e in json.loads(result.stdout)] == ["rule_planner"]


def test_plugins_dir_option_loads_a_local_plugin(tmp_path):
    (tmp_path / "my_local.py").write_text(
        "from himoe_core import hookimpl\n\n"
        "class Local:\n"
        "    '''A local expert.'''\n"
        "    name = 'local_cli_expert'\n"
        "    def can_handle(self, task):\n        return True\n"
        "    def infer(self, x, ctx):\n        return 'ok'\n\n"
        "@hookimpl\n"
        "def register_experts(register):\n    register(Local())\n"
    )
    result = himoe("--plugins-dir", str(tmp_path), "list-experts", "--json", HIMOE_LOAD_PLUGINS="my-local")
    assert result.returncode == 0, result.stderr
    [entry] = json.loads(result.stdout)
    assert (entry["name"], entry["plugin"], entry["version"]) == ("local_cli_expert", "my_local", None)


def test_a_missing_plugins_dir_is_one_error_line(tmp_path):
    result = himoe("--plugins-dir", str(tmp_path / "absent"), "list-experts")
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert line.startswith("himoe: error: ") and "plugins folder not found" in line


def test_no_command_prints_the_help_and_exits_2():
    result = himoe()
    assert result.returncode == 2
    assert result.stderr.startswith("usage: himoe") and "list-experts" in result.stderr


@pytest.mark.parametrize(
    "args, says", [(["no-such-command"], "choose from 'list-experts'"), (["--debug"], "required: COMMAND")]
)
def test_unknown_or_missing_subcommand_exits_2(args, says):
    result = himoe(*args)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()  # one line, not argparse's usage block
    assert line.startswith("himoe: error: ") and line.endswith("(see 'himoe --help')")
    assert says in line


@pytest.mark.parametrize(
    "args, wrong",
    [
        (
            ["run", "plan: x", "--budget-ms", "-5"],
            "argument --budget-ms: expected a number of milliseconds >= 0, got '-5'",
        ),
        (["run", "plan: x", "--budget-ms", "nan"], "argument --budget-ms"),
        (["run", "plan: x", "--k", "0"], "argument --k: expected a whole number >= 1, got '0'"),
        (["stats", "--window", "-1"], "argument --window: expected a whole number >= 1"),
        (["list-experts", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_usage_errors_are_one_line_naming_the_bad_value(args, wrong):
    result = himoe(*args)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert wrong in line and line.endswith("--help')"), line


def test_global_options_also_work_after_the_command(tmp_path):
    missing = str(tmp_path / "missing.toml")
    after = himoe("run", "plan: x", "--config", missing, "--debug")
    assert after.returncode == 1 and "Traceback" in after.stderr and "config file not found" in after.stderr
    quiet = himoe("run", "plan: x", "--config", missing)
    assert quiet.returncode == 1 and quiet.stderr.count("\n") == 1 and "Traceback" not in quiet.stderr
