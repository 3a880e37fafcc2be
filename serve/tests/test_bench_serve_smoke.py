"""`benchmarks/bench_serve.py --quick` still runs end to end (figures meaningless: a smoke run)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_serve_quick_measures_himoe_serve_against_in_process():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "bench_serve.py"), "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    rows = {line.split(" | ")[0].strip("| "): line for line in proc.stdout.splitlines() if line.startswith("| ")}
    assert "in-process (await moe.run)" in rows and "himoe serve" in rows
    assert "not measured" not in rows["himoe serve"] and rows["himoe serve"].endswith("| 0 | 1.00× |")
    assert "skipped (--quick)" in rows["LiteLLM proxy (mock_response)"]
    assert "[bench]" in proc.stderr and "[bench]" not in proc.stdout
