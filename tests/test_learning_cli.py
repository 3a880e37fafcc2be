"""`himoe run / feedback / stats / evaluate` through the REAL console script, on the per-test state file
(HIMOE_STATE, from the root conftest), with two testing experts loaded from a --plugins-dir plugin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from himoe_core.state import SqliteStateStore as StateStore

HIMOE = Path(sys.executable).parent / ("himoe.exe" if os.name == "nt" else "himoe")

PLUGIN = textwrap.dedent("""
    from himoe_core import hookimpl
    from himoe_core.testing import LearningExpert

    @hookimpl
    def register_experts(register):
        register(LearningExpert("cli_alpha", value="A", confidence=0.9))
        register(LearningExpert("cli_beta", value="B", confidence=0.6))
""")

CONFIG = textwrap.dedent("""
    [routers.r]
    kind = "linucb"
    experts = ["cli_alpha", "cli_beta"]
    encoder = { id = "hashing", dim = 16 }
    gating = { seed = 4, epsilon = 0.5 }

    [routers.fixed]
    kind = "static"
    experts = ["cli_alpha"]
""")


@pytest.fixture
def cli(tmp_path):
    """himoe(*args) → CompletedProcess, with the test plugin and config in tmp_path."""
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "cli_learning_plugin.py").write_text(PLUGIN)
    config = tmp_path / "himoe.toml"
    config.write_text(CONFIG)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HIMOE_") or k == "HIMOE_STATE"}

    def himoe(*args: str, config_file: bool = True) -> subprocess.CompletedProcess:
        argv = [str(HIMOE), "--plugins-dir", str(plugins), *args, *(["--config", str(config)] if config_file else [])]
        return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)

    return himoe


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def one_line_error(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("himoe: error: ")
    return lines[0]


def test_run_feedback_stats_evaluate(cli):
    assert HIMOE.exists(), f"{HIMOE} is missing: is the himoe distribution installed here?"
    run = json.loads(ok(cli("run", "which letter?", "--json")))
    trace_id = run["trace_id"]
    assert run["router"] == "r" and trace_id
    picked = run["trace"]["attempts"][-1]["picks"][0]
    assert 0 < picked["propensity"] < 1  # a learning router logs the true propensity of its pick

    # another process: text output says what was updated
    out = ok(cli("feedback", trace_id, "--reward", "1"))
    assert out.strip() == (f"feedback on {trace_id} (reward 1): router r updated; experts updated: {picked['expert']}")
    # the same feedback again (a retry) is recognised; different feedback on it is refused
    again = ok(cli("feedback", trace_id, "--reward", "1"))
    assert again.strip() == f"feedback on {trace_id} (reward 1): already learned from; nothing updated"
    refused = one_line_error(cli("feedback", trace_id, "--reward", "0"))
    assert f"trace {trace_id!r} already has feedback (reward 1.0" in refused and "learned from once" in refused

    # another request, another process: JSON output, with a per-expert score and the expected answer
    run2 = json.loads(ok(cli("run", "which letter?", "--json")))
    picked2 = run2["trace"]["attempts"][-1]["picks"][0]
    summary = json.loads(
        ok(
            cli(
                "feedback",
                run2["trace_id"],
                "--score",
                f"{picked2['expert']}=0.25",
                "--expected",
                '{"letter": "A"}',
                "--json",
            )
        )
    )
    assert summary == {
        "trace_id": run2["trace_id"],
        "router": "r",
        "reward": 0.25,
        "task_loss": 0.75,
        "router_learns": True,
        "rewards": {picked2["expert"]: 0.25},
        "experts_updated": [picked2["expert"]],
        "first_feedback": True,
        "repeat": False,
    }

    store = StateStore(os.environ["HIMOE_STATE"])
    try:
        rows = store.feedback()
        state, _ = store.load_router("r")
        expert_state, _ = store.load_expert(picked["id"])
    finally:
        store.close()
    assert [r["reward"] for r in rows] == [1.0, 0.25]
    assert rows[1]["expected"] == {"kind": "json", "schema": rows[1]["expected"]["schema"], "data": {"letter": "A"}}
    assert state["updates"] == 2, "the second process built on what the first learned, the repeat taught nothing"
    if picked2["expert"] == picked["expert"]:
        assert expert_state == {"learned_count": 2, "reward_sum": 1.25}
    else:
        assert expert_state == {"learned_count": 1, "reward_sum": 1.0}

    stats = json.loads(ok(cli("stats", "--json")))
    for key in (
        "quality",
        "calibration_ece",
        "load_balance_cv2",
        "utilisation",
        "latency_ms",
        "gating_drift_kl",
        "disagreement",
    ):
        assert key in stats, key
    assert (stats["requests"], stats["answered"], stats["feedback"]) == (2, 2, 2)
    assert stats["quality"] == pytest.approx(0.625)
    assert sum(stats["utilisation"].values()) == pytest.approx(1.0) and picked["expert"] in stats["utilisation"]
    assert set(stats["latency_ms"]) == {"p50", "p95"} and stats["latency_ms"]["p50"] > 0
    assert stats["state"] == os.environ["HIMOE_STATE"]

    table = ok(cli("stats"))
    assert "quality (mean reward)" in table and "0.625" in table and "SHARE OF PICKS" in table

    result = json.loads(ok(cli("evaluate", "--router", "r", "--json")))
    assert result["router"] == "r" and result["n"] == 2
    for estimator in ("ips", "snips", "dr"):
        low, high = result[estimator]["ci95"]
        assert low <= result[estimator]["estimate"] <= high
    printed = ok(cli("evaluate", "--router", "fixed"))
    assert printed.startswith("router fixed on 2 logged decisions")
    assert [line.split()[0] for line in printed.splitlines()[1:]] == ["ESTIMATOR", "IPS", "SNIPS", "DR"]


def test_bad_usage_is_one_line_on_stderr(cli):
    cases = [
        (("feedback", "some-trace", "--score", "x"), "himoe: error: --score expects NAME=NUMBER, got 'x'"),
        (("feedback", "no-such-trace", "--reward", "1"), "himoe: error: unknown trace id 'no-such-trace'"),
        (("feedback", "some-trace", "--reward", "nan"), "himoe: error: reward must be a finite number, got nan"),
        (("feedback", "some-trace"), "himoe: error: give reward=…, task_loss=… or per-expert scores"),
        (("evaluate", "--router", "nope"), "himoe: error: unknown router 'nope'; configured routers: fixed, r"),
    ]
    with ThreadPoolExecutor(max_workers=3) as pool:  # separate processes: run a few at once
        results = list(pool.map(lambda case: cli(*case[0]), cases))
    for (args, expected), result in zip(cases, results):
        assert one_line_error(result).startswith(expected), (args, result.stderr)
    store = StateStore(os.environ["HIMOE_STATE"])
    try:
        assert store.feedback() == [], "a refused feedback records nothing"
    finally:
        store.close()


def test_run_takes_the_request_context_and_records_it(cli):
    run = json.loads(ok(cli("run", "which letter?", "--context", "subject=law", "--context", "priority:=2", "--json")))
    assert run["trace"]["context"] == {"priority": 2.0, "subject": "law"}
    gate = run["trace"]["attempts"][-1]["gate"]
    assert all("estimate" in entry for entry in gate)  # the router's estimate beside its logit
    store = StateStore(os.environ["HIMOE_STATE"])
    try:
        from himoe_core.routing import decode_decision

        (record,) = store.decisions(run["trace_id"])
        assert decode_decision(record).input.context_dict() == {"priority": 2.0, "subject": "law"}
    finally:
        store.close()
    for bad, message in (
        ("subject", "--context expects KEY=CATEGORY or KEY:=NUMBER, got 'subject'"),
        ("n:=many", "--context n:= expects a finite number, got 'many'"),
    ):
        assert one_line_error(cli("run", "which letter?", "--context", bad)).startswith(f"himoe: error: {message}")
