"""himoe-example as installed: found by the `himoe` command through its entry point."""

import json
import os
import subprocess
import sys

import importlib_metadata


def himoe(*args, tmp_path, only=None):
    """Run this environment's `himoe` command (``python -m himoe_core``)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("HIMOE_")}
    env["HIMOE_STATE"] = str(tmp_path / "state.sqlite3")  # never the user's own state file
    if only is not None:
        env["HIMOE_LOAD_PLUGINS"] = only
    result = subprocess.run(
        [sys.executable, "-m", "himoe_core", *args], capture_output=True, text=True, env=env, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_entry_point_is_named_after_the_distribution():
    [entry_point] = importlib_metadata.distribution("himoe-example").entry_points.select(group="himoe")
    assert (entry_point.name, entry_point.value) == ("himoe-example", "himoe_example.plugin")


def test_himoe_lists_both_experts(tmp_path):
    experts = {e["name"]: e for e in json.loads(himoe("list-experts", "--json", tmp_path=tmp_path))}
    for name in ("word_count", "sentiment_lexicon"):
        assert (experts[name]["plugin"], experts[name]["domain"]) == ("himoe-example", "text")


def test_himoe_run_routes_to_the_expert(tmp_path):
    output = json.loads(
        himoe("run", "sentiment: great docs, really helpful", "--json", tmp_path=tmp_path, only="himoe-example")
    )
    assert output["value"]["data"]["label"] == "positive"
    assert [c["expert"] for c in output["trace"]["attempts"][-1]["calls"]] == ["sentiment_lexicon"]


def test_each_experts_example_is_a_request_it_answers(himoe_factory):
    """Users whose request no expert handles are shown these examples."""
    from himoe_example import plugin

    from himoe_core.testing import assert_examples_answered

    assert sorted(assert_examples_answered(himoe_factory(plugins=[plugin]))) == ["sentiment_lexicon", "word_count"]
