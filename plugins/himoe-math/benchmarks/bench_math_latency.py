"""Latency of the math_sympy expert: first call (cold worker) versus warm calls.

Run from the repository root:

    python plugins/himoe-math/benchmarks/bench_math_latency.py [--cold 5] [--warm 50]

It reports, per request, the p50/p90 of `--warm` calls through the expert (restricted parse,
hop to the warm worker process, sympy, JSON back) side by side with the same computation done
in-process by `compute()` — the baseline without the worker process — and their ratio; then the
first call of a fresh expert (worker process start + sympy import + warm-up), and how long the
next request waits after a deadline killed the worker.
"""

from __future__ import annotations

import argparse
import statistics
import time

import trio
from himoe_math.compute.operations import compute
from himoe_math.experts.math.math_sympy import MathSympy

from himoe_core import Context, DeadlineExceeded, InputData

REQUESTS = [
    "math: solve x**2 - 4 = 0",
    "math: factor x**2-5*x+6",
    "math: simplify (x**2-1)/(x-1)",
    "math: expand (x+1)**3",
    "math: diff sin(x)*x",
    "math: integrate x**2 from 0 to 1",
    "math: evaluate 2**10 + sqrt(16)",
]
RUNAWAY = "math: integrate exp(x**7)*sin(x**5)"


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


async def timed_call(expert: MathSympy, text: str, budget_ms: float = 60_000) -> float:
    started = time.perf_counter()
    await expert.infer(InputData.text(text), Context.start(budget_ms))
    return (time.perf_counter() - started) * 1000.0


def cold_calls(count: int) -> list[float]:
    samples = []
    for _ in range(count):
        expert = MathSympy(workers=1)
        try:
            samples.append(trio.run(timed_call, expert, REQUESTS[0]))
        finally:
            expert.close()
    return samples


def warm_calls(expert: MathSympy, text: str, count: int) -> list[float]:
    async def main() -> list[float]:
        await timed_call(expert, text)  # this request's own first run (sympy caches) is not counted
        return [await timed_call(expert, text) for _ in range(count)]

    return trio.run(main)


def in_process_calls(text: str, count: int) -> list[float]:
    compute(text)
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        compute(text)
        samples.append((time.perf_counter() - started) * 1000.0)
    return samples


def recovery_after_kill(expert: MathSympy) -> tuple[float, float]:
    async def main() -> tuple[float, float]:
        started = time.perf_counter()
        try:
            await expert.infer(InputData.text(RUNAWAY), Context.start(200))
        except DeadlineExceeded:
            pass
        stopped = (time.perf_counter() - started) * 1000.0
        return stopped, await timed_call(expert, REQUESTS[0])

    return trio.run(main)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", type=int, default=5, help="fresh experts whose first call is timed")
    parser.add_argument("--warm", type=int, default=50, help="warm calls per request")
    args = parser.parse_args()

    cold = cold_calls(args.cold)
    print(f"first call of a fresh expert ({REQUESTS[0]!r}), {args.cold} runs:")
    print(f"  very first in this process: {cold[0]:8.1f} ms (starts the first worker process)")
    print(f"  p50 of all first calls:     {statistics.median(cold):8.1f} ms   (max {max(cold):.1f} ms)")

    expert = MathSympy(workers=1)
    expert.warm_up(wait_s=120)
    print(f"\nwarm calls, {args.warm} per request (ms):")
    print(f"  {'request':36s} {'expert p50':>10s} {'p90':>8s} {'in-process p50':>15s} {'ratio':>7s}")
    all_warm = []
    for text in REQUESTS:
        warm = warm_calls(expert, text, args.warm)
        local = in_process_calls(text, args.warm)
        all_warm.extend(warm)
        p50, base = statistics.median(warm), statistics.median(local)
        print(f"  {text[6:]:36s} {p50:10.2f} {percentile(warm, 0.9):8.2f} {base:15.2f} {p50 / base:7.1f}")
    print(f"  {'all requests':36s} {statistics.median(all_warm):10.2f} {percentile(all_warm, 0.9):8.2f}")

    stopped, next_call = recovery_after_kill(expert)
    print(
        f"\nrunaway integral with a 200 ms budget stopped after {stopped:.1f} ms; "
        f"the next request (waiting for the replacement worker) took {next_call:.1f} ms"
    )
    expert.close()


if __name__ == "__main__":
    main()
