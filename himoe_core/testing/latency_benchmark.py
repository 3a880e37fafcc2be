"""A plugin's latency benchmark: each case timed in fresh processes, first call and warm calls.

A plugin's benchmark script defines its cases and a `child(case, warm)` that builds the expert,
times its first call and `warm` more, and returns ``{"first_ms": …, "warm_ms": […],
"peak_rss_mb": …}``; `run_latency_benchmark` does the rest — one fresh process per run (so the
first call pays what a freshly started himoe pays: imports, model loads), medians and p95, and
the table or JSON::

    if __name__ == "__main__":
        sys.exit(run_latency_benchmark(__file__, __doc__, CASES, child))
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from collections.abc import Callable, Iterable
from typing import Any


def percentile(values: list[float], q: float) -> float:
    """The `q` quantile (0..1) of `values`, by the nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run_latency_benchmark(
    script: str,
    doc: str,
    cases: Iterable[str],
    child: Callable[[str, int], dict[str, Any]],
    argv: list[str] | None = None,
    *,
    per: str = "expert",
    first_decimals: int = 0,
    warm_decimals: int = 2,
) -> int:
    """The command line of `script`: ``--runs`` fresh processes per case, ``--warm`` warm calls
    each, ``--json``; a child process (``--child CASE``) runs `child` and prints its JSON.

    `per` names a case in the help and the footer; the decimals suit the timings (a rule
    planner's warm calls take tens of microseconds, a spaCy model's milliseconds)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help=f"fresh processes per {per} (default 5)")
    parser.add_argument("--warm", type=int, default=200, help="warm calls per run (default 200)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        json.dump(child(args.child, args.warm), sys.stdout)
        return 0

    rows = []
    for case in cases:
        firsts, warms, rss = [], [], []
        for _ in range(args.runs):
            completed = subprocess.run(
                [sys.executable, script, "--child", case, "--warm", str(args.warm)],
                capture_output=True,
                text=True,
                check=True,
            )
            data = json.loads(completed.stdout)
            firsts.append(data["first_ms"])
            warms.extend(data["warm_ms"])
            rss.append(data["peak_rss_mb"])
        rows.append(
            {
                "expert": case,
                "runs": args.runs,
                "first_call_p50_ms": statistics.median(firsts),
                "warm_p50_ms": statistics.median(warms),
                "warm_p95_ms": percentile(warms, 0.95),
                "peak_rss_mb": statistics.median(rss),
            }
        )
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        print()
        return 0
    first, warm = first_decimals, warm_decimals
    print(f"{'expert':42} {'first call p50':>15} {'warm p50':>10} {'warm p95':>10} {'peak RSS':>10}")
    for row in rows:
        print(
            f"{row['expert']:42} {row['first_call_p50_ms']:>12.{first}f} ms {row['warm_p50_ms']:>7.{warm}f} ms "
            f"{row['warm_p95_ms']:>7.{warm}f} ms {row['peak_rss_mb']:>7.0f} MB"
        )
    print(f"({args.runs} fresh processes per {per}, {args.warm} warm calls each; Python {sys.version.split()[0]})")
    return 0
