"""The learning-router benchmarks still run: each script with `--quick`, end to end, in a subprocess.

A smoke run only (tiny sizes, figures meaningless): it checks that every stage executes through
HiMoE and reports its tables, not how well anything learns — quality is claimed from the full runs
in docs/benchmarks.md ("Learning routers").
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GSM8K = Path(os.environ.get("HIMOE_ROUTELLM_DATA") or ROOT / "benchmarks" / "data" / "gsm8k.csv")

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")


def _run(script: str, tmp_path: Path) -> tuple[subprocess.CompletedProcess, float]:
    """Run SCRIPT --quick; return the process and the CPU seconds it and its children used (CPU,
    not wall time: a machine busy with other work stretches the wall time, not the work)."""
    env = dict(os.environ, HIMOE_STATE=str(tmp_path / "state.sqlite3"), TMPDIR=str(tmp_path), MPLBACKEND="Agg")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--quick"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        # a guard against a hang, not a speed check (CPU time is what is asserted): beside two busy
        # loops at load 15 the GSM8K smoke run took more than 600 s of wall time
        timeout=1800,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return proc, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def test_routellm_gsm8k_quick(tmp_path):
    assert GSM8K.is_file(), f"the GSM8K replay data is vendored at benchmarks/data/gsm8k.csv; {GSM8K} is missing"
    proc, cpu_s = _run("bench_routellm_gsm8k.py", tmp_path)
    assert proc.returncode == 0, f"bench_routellm_gsm8k.py --quick failed:\n{proc.stderr[-4000:]}"
    for header in (
        "### Replay of real LLM outcomes (RouteLLM GSM8K)",
        "#### Reference points",
        "| router | information | APGR | CPT(50%) | CPT(80%) | note |",
        "| kind | setting | APGR (mean ± sd) | APGR per seed | CPT(50%) | CPT(80%) | APGR, 2nd half of stream |",
        "#### Tuning grid",
        "### Restart: learned state survives a new process",
        "| run | accuracy, 2nd half | share of strong calls, 2nd half | same decisions as (a) |",
    ):
        assert header in proc.stdout, f"{header!r} missing from:\n{proc.stdout}"
    for kind in ("symbolic", "linear", "linucb", "thompson", "hybrid"):
        assert f"| {kind} |" in proc.stdout
    assert "[bench]" in proc.stderr and "[bench]" not in proc.stdout  # progress on stderr only
    assert cpu_s < 40, f"the quick run used {cpu_s:.1f} CPU seconds; keep it a smoke run"


def test_digits_bandit_quick(tmp_path):
    proc, cpu_s = _run("bench_digits_bandit.py", tmp_path)
    assert proc.returncode == 0, f"bench_digits_bandit.py --quick failed:\n{proc.stderr[-4000:]}"
    for header in (
        "### Experts as arms: five classifiers on scikit-learn's digits",
        "#### The experts",
        "| policy | reward / round (mean ± sd) | total reward | vs best single expert |",
        "#### Best himoe router vs best MABWiser policy",
        "#### Targets (best himoe router)",
        "Paired t-test on total reward",
        "Two-proportion z-test",
    ):
        assert header in proc.stdout, f"{header!r} missing from:\n{proc.stdout}"
    for kind in ("symbolic", "linear", "linucb", "thompson", "hybrid"):
        assert f"himoe `{kind}`" in proc.stdout
    assert "MABWiser LinUCB" in proc.stdout and "MABWiser ε-greedy" in proc.stdout
    assert "[bench]" in proc.stderr and "[bench]" not in proc.stdout
    assert cpu_s < 40, f"the quick run used {cpu_s:.1f} CPU seconds; keep it a smoke run"


def test_gsm8k_refit_quick(tmp_path):
    proc, cpu_s = _run("bench_gsm8k_refit.py", tmp_path)
    assert proc.returncode == 0, f"bench_gsm8k_refit.py --quick failed:\n{proc.stderr[-4000:]}"
    assert "### Refit from history and the recorded estimate (GSM8K, issue #21)" in proc.stdout
    assert "| online only |" in proc.stdout and "| with refit |" in proc.stdout
    assert cpu_s < 40, f"the quick run used {cpu_s:.1f} CPU seconds; keep it a smoke run"


def test_digits_cascade_quick(tmp_path):
    proc, cpu_s = _run("bench_digits_cascade.py", tmp_path)
    assert proc.returncode == 0, f"bench_digits_cascade.py --quick failed:\n{proc.stderr[-4000:]}"
    assert "### Cascade: cheapest first, a learned acceptance model (digits, issue #21)" in proc.stdout
    assert "best single expert: `logreg`" in proc.stdout and "z = " in proc.stdout
    assert cpu_s < 40, f"the quick run used {cpu_s:.1f} CPU seconds; keep it a smoke run"
