"""benchmarks/bench_decision_log.py runs (a short run, on the tests' PostgreSQL) and prints the
tables docs/scaling.md quotes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_decision_log_benchmark_runs(postgres_server):
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench_decision_log.py"),
            "--postgres",
            postgres_server,
            "--requests",
            "400",
            "--batch",
            "100",
            "--quick-store",
            "--floors",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for side in ("| off |", "| sqlite |", "| postgres |", "| handoff only |", "| one row a request |"):
        assert side in done.stdout, done.stdout
    assert "decisions logged/s" in done.stdout
