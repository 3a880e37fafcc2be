"""The routing-engine benchmarks still run: `benchmarks/bench_engine.py --quick` end to end.

A smoke run only (tiny sizes, figures meaningless): it checks that every benchmark executes and
reports, not how fast anything is — speed is claimed from the full run in docs/benchmarks.md.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("1. Overhead", "2. Parallelism", "3. Deadline", "4. Throughput")


def run_benchmark(script: str, *options: str, timeout: float, env: dict | None = None) -> subprocess.CompletedProcess:
    """`benchmarks/<script> <options>` in a child process, from the repository's root."""
    return subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *options],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def import_benchmark(name: str):
    """A module of benchmarks/, imported without leaving that folder on sys.path."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        return __import__(name)
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))


def test_bench_engine_quick_runs_every_benchmark(tmp_path):
    env = dict(os.environ, HIMOE_STATE=str(tmp_path / "state.sqlite3"))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = run_benchmark("bench_engine.py", "--quick", env=env, timeout=600)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    # CPU seconds, not wall time: a machine busy with other work stretches the wall time only.
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert proc.returncode == 0, f"bench_engine.py --quick failed:\n{proc.stderr[-4000:]}"
    for section in SECTIONS:
        assert f"#### {section}" in proc.stdout, f"section {section!r} missing from:\n{proc.stdout}"
    assert proc.stdout.count("Verdict:") == len(SECTIONS)
    assert "[bench]" in proc.stderr and "[bench]" not in proc.stdout  # progress on stderr only
    assert cpu_s < 30, f"the quick run used {cpu_s:.1f} CPU seconds; keep it a smoke run"


def test_bench_engine_rejects_an_unknown_benchmark():
    proc = run_benchmark("bench_engine.py", "--only", "nope", timeout=60)
    assert proc.returncode == 2 and "unknown benchmark 'nope'" in proc.stderr


def test_the_profiling_loop_and_the_overhead_floor_run(tmp_path):
    env = dict(os.environ, HIMOE_STATE=str(tmp_path / "state.sqlite3"))
    commands = {"request_loop.py": ["--seconds", "0.2", "--state"], "overhead_floor.py": ["--rounds", "2"]}
    for script, options in commands.items():
        proc = run_benchmark(script, *options, env=env, timeout=60)
        assert proc.returncode == 0, f"{script} failed:\n{proc.stderr[-4000:]}"
        assert "µs" in proc.stdout, proc.stdout


def test_the_compiled_overhead_comparison_names_real_modules_and_measures_the_pure_package():
    compiled_overhead = import_benchmark("compiled_overhead")
    missing = [path for path in compiled_overhead.HOT_MODULES if not (ROOT / path).is_file()]
    assert not missing, f"compiled_overhead.HOT_MODULES names modules that are gone: {missing}"
    result = compiled_overhead.measure(None, quick=True)  # the Cython side needs PyPI and a compiler
    assert result["compiled"] is False
    assert [row["k"] for row in result["rows"]] == [1, 4, 16]


def test_the_many_experts_benchmark_runs_every_scenario(tmp_path):
    proc = run_benchmark(
        "bench_many_experts.py", "--quick", "--sizes", "10,40", "--declarative-sizes", "10,40", timeout=300
    )
    assert proc.returncode == 0, f"bench_many_experts.py --quick failed:\n{proc.stderr[-4000:]}"
    for scenario in ("static", "declarative", "logistic"):
        assert f"| {scenario} | 40 |" in proc.stdout, proc.stdout
    assert "[bench]" in proc.stderr and "[bench]" not in proc.stdout


def test_one_request_stays_within_the_request_path_budget():
    """Issue #15's bound on the request path (static router, k = 2, state off, two async
    experts): at most 16 himoe_core files and 45 crossings between them. It had crept to 22 files
    and 46 crossings unnoticed, through converters and validators run on every request."""
    result = import_benchmark("request_path").trace_request()
    assert result["file_count"] <= 16, result["files"]
    assert result["crossings"] <= 45, result["files"]
    assert "_engine/feedback_trainer.py" not in result["files"], "with state off a request never reaches the trainer"


def test_the_kept_traces_benchmark_measures_both_routers():
    proc = run_benchmark("bench_kept_traces.py", "--requests", "50", timeout=120)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "| static | 350 |" in proc.stdout and "| logistic | 350 |" in proc.stdout, proc.stdout  # 300 warm-up + 50
