"""The CLI with a broken third-party plugin installed on a temporary path, and `himoe plugins`.

The broken plugin is a real distribution (dist-info with a `[himoe]` entry point) in a folder put on
PYTHONPATH; its module raises ImportError, exactly like a plugin whose dependency is missing.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HIMOE = Path(sys.executable).parent / ("himoe.exe" if os.name == "nt" else "himoe")
BROKEN_DIST, BROKEN_VERSION = "himoe-broken-test", "0.7.1"


@pytest.fixture(scope="module")
def broken_site(tmp_path_factory) -> Path:
    site = tmp_path_factory.mktemp("site")
    info = site / f"himoe_broken_test-{BROKEN_VERSION}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {BROKEN_DIST}\nVersion: {BROKEN_VERSION}\n")
    (info / "entry_points.txt").write_text(f"[himoe]\n{BROKEN_DIST} = himoe_broken_test_plugin\n")
    (site / "himoe_broken_test_plugin.py").write_text(
        'raise ImportError("himoe_broken_test_plugin needs torch, which is not installed")\n'
    )
    return site


def himoe(*args: str, site: Path | None = None, **extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HIMOE_") and k != "PYTHONPATH"}
    if site is not None:
        env["PYTHONPATH"] = str(site)
    env.update(extra)
    return subprocess.run([str(HIMOE), *args], capture_output=True, text=True, env=env, timeout=60)


def test_a_broken_plugin_is_one_warning_line_and_the_rest_still_works(broken_site):
    result = himoe("list-experts", "--json", site=broken_site)
    assert result.returncode == 0, result.stderr
    assert "rule_planner" in [e["name"] for e in json.loads(result.stdout)]
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("himoe: warning: ")
    assert f"{BROKEN_DIST}=={BROKEN_VERSION}" in lines[0]
    assert "needs torch" in lines[0]
    assert "Traceback" not in result.stderr


def test_strict_mode_exits_non_zero_with_one_line_and_no_traceback(broken_site):
    result = himoe("list-experts", site=broken_site, HIMOE_STRICT_PLUGINS="1")
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("himoe: error: ")
    assert f"{BROKEN_DIST}=={BROKEN_VERSION}" in lines[0]
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_debug_shows_the_traceback(broken_site):
    result = himoe("--debug", "list-experts", site=broken_site, HIMOE_STRICT_PLUGINS="1")
    assert result.returncode != 0
    assert "Traceback (most recent call last)" in result.stderr
    assert "PluginError" in result.stderr and BROKEN_DIST in result.stderr


def test_the_broken_plugin_can_be_disabled(broken_site):
    result = himoe("list-experts", site=broken_site, HIMOE_DISABLE_PLUGINS=BROKEN_DIST, HIMOE_STRICT_PLUGINS="1")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert "rule_planner" in result.stdout


def test_plugins_json_shows_the_load_error(broken_site):
    result = himoe("plugins", "--json", site=broken_site)
    assert result.returncode == 0, result.stderr
    plugins = {p["distribution"]: p for p in json.loads(result.stdout)}
    broken = plugins[BROKEN_DIST]
    assert broken["version"] == BROKEN_VERSION
    assert broken["origin"] == "entry-point"
    assert "ImportError" in broken["error"] and "needs torch" in broken["error"]
    assert broken["hooks"] == []
    planning = plugins["himoe-planning"]
    assert planning["error"] is None and planning["hooks"] == ["register_experts"]
    assert "himoe" not in plugins  # the built-in plugin is hidden without --all
    for entry in plugins.values():
        assert set(entry) == {"name", "distribution", "version", "origin", "hooks", "error"}


def test_plugins_all_includes_the_builtin(broken_site):
    result = himoe("plugins", "--json", "--all", site=broken_site)
    assert result.returncode == 0, result.stderr
    entries = json.loads(result.stdout)
    [builtin] = [p for p in entries if p["origin"] == "builtin"]
    assert builtin["name"] == "himoe" and builtin["error"] is None and builtin["hooks"]
    assert entries[-1]["origin"] == "builtin"  # listed after the third-party ones


def test_plugins_table_marks_the_error(broken_site):
    result = himoe("plugins", site=broken_site)
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["PLUGIN", "VERSION", "ORIGIN", "HOOKS", "STATUS"]
    [row] = [line for line in lines if line.startswith(BROKEN_DIST)]
    assert BROKEN_VERSION in row and "ERROR: ImportError" in row
    [ok_row] = [line for line in lines if line.startswith("himoe-planning")]
    assert ok_row.rstrip().endswith("ok")
