"""The wheels `python3 dev.py dist` builds install into a fresh virtual environment with pip, as a
user installs them (`pip install --find-links dist himoe himoe-math himoe-planning`), and that
environment's own `himoe` command lists the plugins' experts and answers a request.

Nothing of the test runner's environment reaches the new one: no editable install, no .pth file,
no PYTHONPATH. The third-party dependencies are put there first at the versions of uv.lock, from
uv's cache (conftest.py's `fresh_venv`), so that pip then resolves himoe's own distributions from
the built wheels alone (--no-index) and finds every other requirement already satisfied.
"""

from __future__ import annotations

import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WANTED = ("himoe", "himoe-math", "himoe-planning")


def test_the_wheels_install_with_pip_and_answer(fresh_venv, built_distributions):
    venv = fresh_venv
    venv.install_locked(set(WANTED), groups=())
    venv.pip("--find-links", built_distributions, *WANTED)
    venv.run("-m", "pip", "check")

    # Every himoe module comes from the environment's site-packages, installed from a wheel.
    site = venv.site_packages()
    where = json.loads(
        venv.run(
            "-c",
            "import json, himoe_core, himoe_registry, himoe_math, himoe_planning; "
            "print(json.dumps([m.__file__ for m in (himoe_core, himoe_registry, himoe_math, "
            "himoe_planning)]))",
        ).stdout
    )
    assert all(Path(module).is_relative_to(site) for module in where), (site, where)
    for dist_info in site.glob("himoe*.dist-info"):
        assert not (dist_info / "direct_url.json").exists(), f"{dist_info.name}: not installed from a wheel file"
    assert not [p.name for p in site.glob("*.pth") if str(ROOT) in p.read_text(encoding="utf-8", errors="replace")]
    assert (site / "himoe_core" / "py.typed").is_file() and (site / "himoe_registry" / "py.typed").is_file()

    table = venv.himoe_command("list-experts").stdout
    budget = ["--budget-ms", "120000"]  # the first request starts a sympy worker: seconds on a busy machine
    assert "math_sympy" in table and "rule_planner" in table, table
    listed = {e["name"]: e for e in json.loads(venv.himoe_command("list-experts", "--json").stdout)}
    assert (listed["math_sympy"]["plugin"], listed["math_sympy"]["version"]) == ("himoe-math", "0.1.0")
    assert (listed["rule_planner"]["plugin"], listed["rule_planner"]["version"]) == ("himoe-planning", "0.1.0")

    answer = json.loads(venv.himoe_command("run", "math: solve x**2 - 4 = 0", "--json", *budget, timeout=300).stdout)
    assert [c["expert"] for c in answer["trace"]["attempts"][-1]["calls"]] == ["math_sympy"]
    assert (answer["value"]["data"]["solutions"], answer["value"]["data"]["result"]) == (["-2", "2"], "[-2, 2]")
    shown = venv.himoe_command("run", "math: solve x**2 - 4 = 0", *budget, timeout=300).stdout
    assert "[-2, 2]" in shown, shown
