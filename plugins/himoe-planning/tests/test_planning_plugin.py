"""The himoe-planning distribution: installed, found by the real `himoe` command, cheap to import."""

import json
import os
import subprocess
import sys
from pathlib import Path

import importlib_metadata
from himoe_planning import RulePlanner

from himoe_core import hookimpl
from himoe_core.plugins import PluginHost

HIMOE = Path(sys.executable).parent / ("himoe.exe" if os.name == "nt" else "himoe")


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("HIMOE_") and k != "PYTHONPATH"}


def test_planning_plugin_is_installed():
    result = subprocess.run(
        [str(HIMOE), "list-experts", "--json"], capture_output=True, text=True, env=clean_env(), timeout=60
    )
    assert result.returncode == 0, result.stderr
    [planner] = [e for e in json.loads(result.stdout) if e["name"] == "rule_planner"]
    assert planner["id"] == "21173fea50be1d0d"
    assert planner["plugin"] == "himoe-planning"
    assert planner["version"] == "0.1.0"
    assert planner["domain"] == "planning"


def test_planning_entry_point_is_named_after_the_distribution():
    dist = importlib_metadata.distribution("himoe-planning")
    [entry_point] = dist.entry_points.select(group="himoe")
    assert (entry_point.name, entry_point.value) == ("himoe-planning", "himoe_planning.plugin")
    assert dist.version == "0.1.0"


def test_planning_plugin_module_registers_one_rule_planner():
    from himoe_planning import plugin

    registered = []
    plugin.register_experts(registered.append)
    [expert] = registered
    assert isinstance(expert, RulePlanner) and expert.max_steps == 16
    assert hasattr(plugin.register_experts, "himoe_impl")  # marked with himoe_core.hookimpl
    assert hookimpl.project_name == "himoe"


def test_planning_plugin_loads_as_a_plugin_object():
    from himoe_planning import plugin

    host = PluginHost(plugins=[plugin], entry_points=False, environ={})
    [info] = host.expert_infos()
    assert (info.name, info.domain) == ("rule_planner", "planning")


def test_planning_import_is_light():
    code = (
        "import sys, time\n"
        "start = time.perf_counter()\n"
        "import himoe_planning.plugin\n"
        "heavy = {'spacy', 'sklearn', 'torch', 'sympy', 'httpx', 'lingua', 'scipy', 'pandas', 'transformers'}\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=clean_env(), timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_planning_examples_are_requests_its_experts_answer(himoe_factory):
    """Users whose request no expert handles are shown each expert's `example`: it must work."""
    import himoe_planning.plugin

    from himoe_core.testing import assert_examples_answered

    assert assert_examples_answered(himoe_factory(plugins=[himoe_planning.plugin]))
