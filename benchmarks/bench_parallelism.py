"""Benchmark 2: experts run in parallel — 8 experts that each sleep 50 ms answer in ~50 ms.

Real clock. Each himoe request is followed (or preceded, alternately) by the same fan-out in a
bare trio nursery, so the floor that trio itself reaches is measured in the same run.
"""

from __future__ import annotations

import time
from typing import Any

import trio
from bench_common import engine_config, median, percentile, say
from sleep_expert import SleepExpert

from himoe_core import HiMoE, InputData

EXPERTS = 8
SLEEP_S = 0.050


async def _measure(requests: int) -> dict[str, Any]:
    experts = [SleepExpert(f"sleepy-{i}", SLEEP_S) for i in range(EXPERTS)]
    moe = HiMoE(experts=experts, entry_points=False, config=engine_config(EXPERTS, budget_ms=5000))
    x = InputData.text("route me")

    async def engine() -> int:
        response = await moe.run(x)
        return sum(c["status"] == "ok" for c in response.trace["attempts"][0]["calls"])

    async def bare() -> int:
        async with trio.open_nursery() as nursery:
            for expert in experts:
                nursery.start_soon(expert.infer, x, None)
        return len(experts)

    try:
        return await _alternate(engine, bare, requests)
    finally:
        moe.close()


async def _alternate(engine, bare, requests: int) -> dict[str, Any]:
    await engine()
    await bare()
    walls: dict[str, list[float]] = {"engine": [], "bare": []}
    answered = 0
    for index in range(requests):
        for side in ("engine", "bare") if index % 2 == 0 else ("bare", "engine"):
            started = time.perf_counter()
            ok = await (engine() if side == "engine" else bare())
            walls[side].append((time.perf_counter() - started) * 1000.0)
            if side == "engine":
                answered += ok
    return {"walls": walls, "answered": answered}


def run(quick: bool = False) -> dict[str, Any]:
    requests = 6 if quick else 50
    say(f"parallelism: {EXPERTS} experts × {SLEEP_S * 1000:.0f} ms sleep, {requests} requests")
    data = trio.run(_measure, requests)
    slowest = SLEEP_S * 1000.0
    engine, bare = data["walls"]["engine"], data["walls"]["bare"]
    result = {
        "requests": requests,
        "slowest_ms": slowest,
        "engine_median": median(engine),
        "engine_p95": percentile(engine, 95),
        "engine_max": max(engine),
        "bare_median": median(bare),
        "bare_p95": percentile(bare, 95),
        "bare_max": max(bare),
        "answered": data["answered"],
        "expected": requests * EXPERTS,
    }
    result["ratio_median"] = result["engine_median"] / slowest
    result["ratio_p95"] = result["engine_p95"] / slowest
    result["met"] = result["ratio_median"] <= 1.1 and result["answered"] == result["expected"]
    return result


def render(r: dict[str, Any]) -> str:
    lines = [
        "#### 2. Parallelism: 8 experts that each sleep 50 ms",
        "",
        f"k = 8, real clock, {r['requests']} sequential requests per side (interleaved). "
        f"Sequential calls would take {EXPERTS * r['slowest_ms']:.0f} ms.",
        "",
        "| side | median ms | p95 ms | max ms | median / slowest expert (50 ms) | p95 / slowest |",
        "|---|---:|---:|---:|---:|---:|",
        f"| bare nursery | {r['bare_median']:.2f} | {r['bare_p95']:.2f} | {r['bare_max']:.2f} "
        f"| {r['bare_median'] / r['slowest_ms']:.3f}× | {r['bare_p95'] / r['slowest_ms']:.3f}× |",
        f"| himoe | {r['engine_median']:.2f} | {r['engine_p95']:.2f} | {r['engine_max']:.2f} "
        f"| **{r['ratio_median']:.3f}×** | {r['ratio_p95']:.3f}× |",
        "",
        f"Expert answers returned ok: {r['answered']} / {r['expected']}.",
        "",
        f"Verdict: target wall ≤ 1.1× the slowest expert — **{'met' if r['met'] else 'NOT met'}**: "
        f"median {r['ratio_median']:.3f}×, p95 {r['ratio_p95']:.3f}×.",
    ]
    return "\n".join(lines)
