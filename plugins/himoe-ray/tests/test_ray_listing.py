"""Listing Ray-hosted experts imports no ray and starts nothing; bad [ray] tables are one clear error."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from himoe_core import ConfigError
from himoe_core._config.config_parsing import load_config
from himoe_core.plugins import PluginHost

CONFIG = """
[ray]
address = "127.0.0.1:6399"
[ray.experts.math_sympy]
replicas = 2
[ray.experts."himoe_core.testing:EchoExpert"]
kwargs = { name = "ray_echo", prefix = "echo:" }
"""


def test_list_experts_shows_ray_hosted_experts_without_importing_ray(tmp_path):
    config = tmp_path / "himoe.toml"
    config.write_text(CONFIG)
    code = (
        "import sys, runpy\n"
        "sys.argv = ['himoe', 'list-experts', '--json', '--config', sys.argv[1]]\n"
        "try:\n"
        "    runpy.run_module('himoe_core', run_name='__main__')\n"
        "except SystemExit as exc:\n"
        "    assert not exc.code, exc.code\n"
        "assert 'ray' not in sys.modules, 'listing imported ray'\n"
    )
    done = subprocess.run([sys.executable, "-c", code, str(config)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    rows = {row["name"]: row for row in json.loads(done.stdout)}
    assert rows["math_sympy"]["plugin"] == "himoe-math"  # the same expert: its id and plugin stay
    assert rows["math_sympy"]["id"] == "bb355b1918a72937"
    assert rows["math_sympy"]["description"].startswith("Exact symbolic math with sympy")
    assert rows["ray_echo"]["plugin"] == "himoe-ray"
    assert "warning" not in done.stderr


def test_the_hosted_expert_replaces_the_local_one():
    host = PluginHost(config=load_config({"ray": {"address": "auto", "experts": {"math_sympy": {}}}}))
    expert = host.experts.get_by_name("math_sympy")
    assert type(expert).__name__ == "RayExpert"
    assert (expert.domain, expert.example) == ("math", "math: solve x**2 - 4 = 0")
    assert expert.can_handle("math: diff x**2")
    assert not expert.can_handle("plan: a trip")
    assert [name for _, name, _ in host.experts.items()].count("math_sympy") == 1


@pytest.mark.parametrize(
    "table, says",
    [
        ({"adress": "auto"}, "ray.adress: unknown key"),
        ({"address": "somewhere"}, "ray.address: expected"),
        ({"experts": {"nope": {}}}, "ray.experts.nope: no installed expert is named 'nope'"),
        (
            {"experts": {"math_sympy": {"replicas": 0}}},
            "ray.experts.math_sympy.replicas: expected an integer >= 1, got 0",
        ),
        ({"experts": {"math_sympy": {"replicas": 2, "max_replicas": 3}}}, "either replicas"),
        ({"experts": {"math_sympy": {"min_replicas": 3, "max_replicas": 1}}}, "min_replicas (3) is more than"),
        ({"experts": {"math_sympy": {"num_gpus": -1}}}, "num_gpus: expected a number >= 0, got -1"),
        ({"experts": {"math_sympy": {"kwargs": {}}}}, "only an expert named by import path takes kwargs"),
        ({"experts": {"no_module_here:Thing": {}}}, "cannot import 'no_module_here:Thing'"),
    ],
)
def test_a_bad_ray_table_is_one_error_naming_the_key(table, says):
    with pytest.raises(ConfigError) as info:
        PluginHost(config=load_config({"ray": table}))
    assert says in str(info.value)


def test_ray_missing_disables_only_the_hosted_experts(tmp_path):
    code = (
        "import sys\n"
        "class NoRay:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'ray' or name.startswith('ray.'):\n"
        "            raise ModuleNotFoundError(\"No module named 'ray'\")\n"
        "sys.meta_path.insert(0, NoRay())\n"
        "from himoe_core import HiMoE\n"
        "config = {'ray': {'experts': {'math_sympy': {}}}, 'state': {'enabled': False}}\n"
        "with HiMoE(config=config) as moe:\n"
        "    assert not moe.host.experts.get_by_name('math_sympy').can_handle('math: solve x = 1')\n"
        "    print(moe.run_sync('plan: ship the release', budget_ms=5000).value.render()[:20])\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if "warning" in line]
    assert warnings == [
        "himoe: warning: plugin 'himoe-ray==0.1.0': ray is not installed; pip install 'ray[serve]'; "
        "the experts it hosts on Ray are disabled (math_sympy)"
    ], done.stderr
    assert done.stdout.strip()


def test_an_unreachable_cluster_disables_only_the_hosted_experts():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        address = f"127.0.0.1:{sock.getsockname()[1]}"  # bound, not listening: nothing answers there
        code = (
            "import sys\n"
            "from himoe_core import HiMoE, ExpertFailed\n"
            f"config = {{'ray': {{'address': {address!r}, 'experts': {{'math_sympy': {{}}}}}}, "
            "'state': {'enabled': False}}\n"
            "with HiMoE(config=config) as moe:\n"
            "    expert = moe.host.experts.get_by_name('math_sympy')\n"
            "    try:\n"
            "        expert.warm_up()\n"
            "    except ExpertFailed as exc:\n"
            "        print(exc.cause)\n"
            "    assert not expert.can_handle('math: solve x = 1')\n"
            "    print(moe.run_sync('plan: ship the release', budget_ms=5000).value.render()[:20])\n"
        )
        done = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"},
        )
    assert done.returncode == 0, done.stderr
    warnings = [line for line in done.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1, done.stderr
    assert warnings[0].startswith(f"himoe: warning: plugin 'himoe-ray==0.1.0': Ray at '{address}' is unreachable (")
    assert warnings[0].endswith("; the experts it hosts on Ray are disabled (math_sympy)")
    cause, *answer = done.stdout.strip().splitlines()
    assert cause.startswith(f"Ray at '{address}' is unreachable")
    assert answer
