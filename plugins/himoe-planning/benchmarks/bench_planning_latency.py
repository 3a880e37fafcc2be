"""Latency of himoe-planning's rule_planner: the first call (cold: a fresh process) and warm calls.

Each run is a fresh Python process, so the first call pays what a freshly started himoe pays on
its first planning request (himoe_core and himoe_planning are imported before the timing starts,
as the plugin host does when it loads the plugin). The expert is built as the plugin registers it,
`RulePlanner(max_steps=16)`. Every goal kind is timed on its own: the first-call p50 is taken over
the runs; the warm p50/p95 over every warm call of every run. Times are `await expert.infer(...)`
alone; the Context is made outside the timing. Peak RSS is the child process's maximum resident
memory after its calls (Linux: ru_maxrss).

    python plugins/himoe-planning/benchmarks/bench_planning_latency.py            # 5 runs x 200 warm calls
    python plugins/himoe-planning/benchmarks/bench_planning_latency.py --runs 3 --warm 100 --json
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

LONG_GOAL = "plan: " + " ".join([
    "Freeze the main branch.", "Bump the version number.", "Update the changelog.", "Run the unit tests.",
    "Run the integration tests.", "Build the wheels.", "Build the source distribution.",
    "Check the wheels install in a clean environment.", "Tag the release.", "Push the tag.",
    "Upload the packages to the test index.", "Install from the test index.", "Upload to the real index.",
    "Publish the documentation.", "Write the release notes.", "Announce the release on the mailing list.",
    "Post the announcement on the forum.", "Close the milestone.", "Open the next milestone.",
    "Unfreeze the main branch.", "Triage the first bug reports.", "Plan the patch release.",
])  # 22 sentences: more than max_steps=16, so the plan is cut to 16 steps
# label -> (the goal it is timed on, the number of steps the plan must have)
CASES = {
    "rule_planner: plain sentence": ("plan: ship the new onboarding flow before the end of the quarter", 1),
    "rule_planner: numbered list": (
        "plan: Goal: move house\n1. give notice to the landlord\n2. book a van\n3. pack the boxes\n"
        "4. move the furniture\n5. clean the old flat\n6. hand back the keys", 6),
    "rule_planner: bulleted list": (
        "todo:\n- write the failing test\n- fix the parser\n* run the whole suite\n• update the changelog", 4),
    "rule_planner: \"then\" chain": (
        "plan: book the venue, then send the invitations and then order the food, next hire a band, "
        "finally clean up", 5),
    "rule_planner: long goal (22 > max_steps)": (LONG_GOAL, 16),
}


def child(label: str, warm: int) -> dict:
    import trio
    from himoe_core import Context, InputData
    from himoe_planning import RulePlanner

    text, expected_steps = CASES[label]
    expert = RulePlanner(max_steps=16)  # as himoe_planning.plugin registers it
    x = InputData.text(text)

    async def main() -> tuple[float, list[float]]:
        ctx = Context.start(600_000)
        started = time.perf_counter()
        out = await expert.infer(x, ctx)
        first_ms = (time.perf_counter() - started) * 1000
        assert len(out.value.as_plan().steps) == expected_steps, (label, out.value.as_plan())
        warm_ms = []
        for _ in range(warm):
            ctx = Context.start(600_000)
            started = time.perf_counter()
            await expert.infer(x, ctx)
            warm_ms.append((time.perf_counter() - started) * 1000)
        return first_ms, warm_ms

    first_ms, warm_ms = trio.run(main)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"first_ms": first_ms, "warm_ms": warm_ms, "peak_rss_mb": rss_mb}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per goal (default 5)")
    parser.add_argument("--warm", type=int, default=200, help="warm calls per run (default 200)")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        json.dump(child(args.child, args.warm), sys.stdout)
        return 0

    rows = []
    for label in CASES:
        firsts, warms, rss = [], [], []
        for _ in range(args.runs):
            completed = subprocess.run(
                [sys.executable, __file__, "--child", label, "--warm", str(args.warm)],
                capture_output=True, text=True, check=True,
            )
            data = json.loads(completed.stdout)
            firsts.append(data["first_ms"])
            warms.extend(data["warm_ms"])
            rss.append(data["peak_rss_mb"])
        rows.append({
            "expert": label,
            "runs": args.runs,
            "first_call_p50_ms": statistics.median(firsts),
            "warm_p50_ms": statistics.median(warms),
            "warm_p95_ms": percentile(warms, 0.95),
            "peak_rss_mb": statistics.median(rss),
        })
    if args.json:
        json.dump(rows, sys.stdout, indent=2)
        print()
        return 0
    # Warm calls take tens of microseconds: three decimals, where the siblings print two.
    print(f"{'expert':42} {'first call p50':>15} {'warm p50':>10} {'warm p95':>10} {'peak RSS':>10}")
    for row in rows:
        print(f"{row['expert']:42} {row['first_call_p50_ms']:>12.2f} ms {row['warm_p50_ms']:>7.3f} ms "
              f"{row['warm_p95_ms']:>7.3f} ms {row['peak_rss_mb']:>7.0f} MB")
    print(f"({args.runs} fresh processes per goal, {args.warm} warm calls each; Python {sys.version.split()[0]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
