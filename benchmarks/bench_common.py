"""Helpers the routing-engine benchmarks share: configs, statistics, machine and memory facts."""

from __future__ import annotations

import atexit
import math
import os
import platform
import resource
import shutil
import statistics
import sys
import tempfile
from collections.abc import Sequence
from typing import Any

_STATE_DIR: str | None = None


def state_path() -> str:
    """A throw-away state file for this run (removed at exit): benchmarks never write their
    traces into the user's own state file. `bench_engine` also points HIMOE_STATE here."""
    global _STATE_DIR
    if _STATE_DIR is None:
        _STATE_DIR = tempfile.mkdtemp(prefix="himoe-bench-")
        atexit.register(shutil.rmtree, _STATE_DIR, True)
    return os.path.join(_STATE_DIR, "state.sqlite3")


def engine_config(
    k: int,
    *,
    aggregator: str = "confidence",
    trace_capacity: int | None = None,
    budget_ms: float | None = None,
    state: bool = True,
) -> dict[str, Any]:
    """One static router `main` over every expert, top-k = `k`, behind the rules orchestrator
    (one rule, so rule matching runs on every request). With `state` (the default, as in a
    user's config) traces are also written behind to a SQLite state file — a temporary one."""
    himoe: dict[str, Any] = {}
    if trace_capacity is not None:
        himoe["trace_capacity"] = trace_capacity
    if budget_ms is not None:
        himoe["budget_ms"] = budget_ms
    return {
        "himoe": himoe,
        "routers": {"main": {"kind": "static", "experts": ["*"], "k": k, "aggregator": aggregator}},
        "orchestrator": {"kind": "rules", "rules": [{"router": "main", "input": "text"}]},
        "state": {"path": state_path()} if state else {"enabled": False},
    }


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), nearest-rank on the sorted values."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q / 100.0 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def current_rss_mb() -> float:
    """Resident set size now, from /proc (Linux); NaN elsewhere."""
    try:
        with open("/proc/self/statm") as statm:
            pages = int(statm.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return math.nan


def peak_rss_mb() -> float:
    """ru_maxrss of this process (KiB on Linux, bytes on macOS).

    On Linux a child process started by fork/vfork + exec inherits its parent's high-water mark
    here (the kernel folds the old address space's peak in at exec), so in a child started by a
    big parent it over-states the child's own peak: see `hwm_rss_mb`.
    """
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def hwm_rss_mb() -> float:
    """Peak RSS of this process's own address space (VmHWM, Linux); ru_maxrss elsewhere."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 2**10
    except (OSError, ValueError, IndexError):
        pass
    return peak_rss_mb()


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    import numpy
    import trio

    try:
        load = f" (1-min load average {os.getloadavg()[0]:.2f} at the start of the run)"
    except OSError:
        load = ""
    return (
        f"{cpu}, {os.cpu_count()} cores{load}, {platform.system()} {platform.release()}, "
        f"CPython {platform.python_version()}, trio {trio.__version__}, numpy {numpy.__version__}"
    )


def say(message: str) -> None:
    """Progress goes to stderr; stdout carries only the markdown report."""
    print(f"[bench] {message}", file=sys.stderr, flush=True)
