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

import resource
import sys
import time

from himoe_core.testing import run_latency_benchmark

LONG_GOAL = "plan: " + " ".join(
    [
        "Freeze the main branch.",
        "Bump the version number.",
        "Update the changelog.",
        "Run the unit tests.",
        "Run the integration tests.",
        "Build the wheels.",
        "Build the source distribution.",
        "Check the wheels install in a clean environment.",
        "Tag the release.",
        "Push the tag.",
        "Upload the packages to the test index.",
        "Install from the test index.",
        "Upload to the real index.",
        "Publish the documentation.",
        "Write the release notes.",
        "Announce the release on the mailing list.",
        "Post the announcement on the forum.",
        "Close the milestone.",
        "Open the next milestone.",
        "Unfreeze the main branch.",
        "Triage the first bug reports.",
        "Plan the patch release.",
    ]
)  # 22 sentences: more than max_steps=16, so the plan is cut to 16 steps
# label -> (the goal it is timed on, the number of steps the plan must have)
CASES = {
    "rule_planner: plain sentence": ("plan: ship the new onboarding flow before the end of the quarter", 1),
    "rule_planner: numbered list": (
        "plan: Goal: move house\n1. give notice to the landlord\n2. book a van\n3. pack the boxes\n"
        "4. move the furniture\n5. clean the old flat\n6. hand back the keys",
        6,
    ),
    "rule_planner: bulleted list": (
        "todo:\n- write the failing test\n- fix the parser\n* run the whole suite\n• update the changelog",
        4,
    ),
    'rule_planner: "then" chain': (
        "plan: book the venue, then send the invitations and then order the food, next hire a band, finally clean up",
        5,
    ),
    "rule_planner: long goal (22 > max_steps)": (LONG_GOAL, 16),
}


def child(label: str, warm: int) -> dict:
    import trio
    from himoe_planning import RulePlanner

    from himoe_core import Context, InputData

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


if __name__ == "__main__":
    # Warm calls take tens of microseconds: three decimals, where the siblings print two.
    sys.exit(run_latency_benchmark(__file__, __doc__, CASES, child, per="goal", first_decimals=2, warm_decimals=3))
