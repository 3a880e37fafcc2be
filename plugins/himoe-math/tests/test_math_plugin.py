"""The distribution as himoe sees it: installed entry point, cheap import, config, conventions."""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from himoe_math.experts.math.math_sympy import MathSympy

from himoe_core import ConfigError, Expert
from himoe_core.plugins import PluginHost
from himoe_core.routing import stable_id

PACKAGE = Path(__file__).resolve().parents[1] / "himoe_math"


def test_math_plugin_is_installed():
    done = subprocess.run(
        [sys.executable, "-m", "himoe_core", "list-experts", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    experts = {row["name"]: row for row in json.loads(done.stdout)}
    row = experts["math_sympy"]
    assert row["plugin"] == "himoe-math"
    assert row["version"] == "0.1.0"
    assert row["id"] == "bb355b1918a72937"
    assert row["domain"] == "math"
    assert row["description"].startswith("Exact symbolic math with sympy")
    assert "warning" not in done.stderr


def test_math_plugin_import_is_light():
    code = (
        "import sys\n"
        "import himoe_math.plugin\n"
        "assert 'sympy' not in sys.modules, 'the entry point imported sympy'\n"
        "from himoe_math.experts.math.math_sympy import MathSympy\n"
        "expert = MathSympy()\n"
        "assert expert.can_handle('math: solve x = 1')\n"
        "assert 'sympy' not in sys.modules, 'building the expert imported sympy'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="finds child processes in /proc")
def test_math_listing_experts_starts_no_worker():
    code = (
        "import glob, os, sys\n"
        "from himoe_core.plugins import PluginHost\n"
        "host = PluginHost()\n"
        "assert any(name == 'math_sympy' for _, name, _ in host.experts.items())\n"
        "def parent(stat):\n"
        "    try:\n"
        "        return int(open(stat).read().rsplit(')', 1)[1].split()[1])\n"
        "    except (OSError, IndexError, ValueError):\n"
        "        return None\n"
        "children = [s for s in glob.glob('/proc/[0-9]*/stat') if parent(s) == os.getpid()]\n"
        "assert children == [], children\n"
        "assert 'sympy' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_math_answers_in_a_script_without_a_main_guard(tmp_path):
    """The README's three lines, run as a script with no `if __name__ == "__main__":` guard: the
    worker process must not import the script again (multiprocessing's spawn and forkserver
    methods do, and the script then ran itself inside the worker and failed)."""
    script = tmp_path / "three_lines.py"
    script.write_text(
        "from himoe_core import HiMoE\n"
        "config = {'routers': {'m': {'kind': 'static', 'experts': ['math_sympy']}}, 'state': {'enabled': False}}\n"
        "with HiMoE(config=config) as moe:\n"
        "    print(moe.run_sync('math: solve x**2 - 4 = 0', budget_ms=30000).value.data['result'])\n"
        "print('the script ran once')\n"
    )
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=90, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout == "[-2, 2]\nthe script ran once\n"
    assert proc.stderr == ""


def test_math_expert_contract_and_stable_id():
    expert = MathSympy()
    assert isinstance(expert, Expert)
    assert expert.name == "math_sympy" and expert.domain == "math"
    assert str(stable_id(expert.name)) == "bb355b1918a72937"
    assert expert.cost_units > 0


@pytest.mark.parametrize(
    ("task", "expected"),
    [
        ("math: solve x**2 - 4 = 0", True),
        ("MATH: 1+1", True),
        ("Math:solve", True),
        ("math solve x = 2", True),
        ("math", True),
        ("mathematics", False),
        ("math_stuff: x", False),
        ("plan: learn math", False),
        ("what is 1+1", False),
    ],
)
def test_math_can_handle(task, expected):
    assert MathSympy().can_handle(task) is expected


def test_math_plugin_reads_its_config_table():
    host = PluginHost(config={"plugins": {"himoe-math": {"workers": 1, "memory_limit_mb": 0}}}, strict=True)
    [expert] = [item for _, name, item in host.experts.items() if name == "math_sympy"]
    assert expert.workers == 1 and expert.memory_limit_mb is None


@pytest.mark.parametrize(
    ("config", "fragment"),
    [
        ({"threads": 2}, "unknown key(s) threads"),
        ({"workers": 0}, "workers must be an integer in [1, 16]"),
        ({"workers": "2"}, "workers must be an integer"),
        ({"memory_limit_mb": 10}, "memory_limit_mb must be an integer >= 64"),
        ({"max_result_chars": 5}, "max_result_chars must be an integer"),
    ],
)
def test_math_bad_config_is_a_config_error(config, fragment):
    with pytest.raises(ConfigError) as info:
        MathSympy.from_config(config)
    assert fragment in str(info.value)


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def test_math_file_convention_one_class_per_file_named_after_it():
    for path in PACKAGE.rglob("*.py"):
        classes = [n.name for n in ast.parse(path.read_text()).body if isinstance(n, ast.ClassDef)]
        assert len(classes) <= 1, f"{path} defines {classes}"
        if classes:
            assert path.stem == _snake(classes[0]), f"{path} holds class {classes[0]}"
    assert (PACKAGE / "experts" / "math" / "math_sympy.py").exists()


def test_math_examples_are_requests_its_experts_answer(himoe_factory):
    """Users whose request no expert handles are shown each expert's `example`: it must work."""
    import himoe_math.plugin

    from himoe_core.testing import assert_examples_answered

    assert assert_examples_answered(himoe_factory(plugins=[himoe_math.plugin]))
