"""The encoding and decision-cost benchmarks still run (`--quick`, in a subprocess, on the vendored
GSM8K prompts). Smoke runs only: the figures are claimed from full runs in docs/benchmarks.md."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _quick(script: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "HIMOE_ROUTELLM_DATA"}  # the vendored data
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_bench_encoder_quick_compares_both_encoders_on_every_prompt():
    proc = _quick("bench_encoder.py")
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "| encoder | per-token loop | fast | speed-up |" in proc.stdout
    assert proc.stdout.count("× |") == 2 and "Quick smoke run" in proc.stdout


def test_bench_decision_cost_quick_reports_the_ratio():
    proc = _quick("bench_decision_cost.py")
    assert proc.returncode == 0, proc.stderr[-4000:]
    for row in ("| static k=2 |", "| static k=1 |", "| logistic |"):
        assert row in proc.stdout
    assert "decision + feedback / `static k=2` request: **" in proc.stdout
    assert "[bench]" in proc.stderr and "[bench]" not in proc.stdout


@pytest.mark.parametrize("script", ["bench_encoder.py", "bench_decision_cost.py"])
def test_missing_data_is_a_clear_error(script, tmp_path):
    env = dict(os.environ, HIMOE_ROUTELLM_DATA=str(tmp_path / "none.csv"))
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2 and "no GSM8K data at" in proc.stderr and "Traceback" not in proc.stderr
